// breakglass console: WebAuthn ceremonies, the live dashboard (SSE) and the countdown.
// Served from /static under a CSP that forbids inline script; reads data- attributes only.
"use strict";

const b64u = {
  enc(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  dec(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  },
};

function say(text) {
  const status = document.getElementById("status");
  if (status) status.textContent = text;
}

async function post(url, body, csrf) {
  const headers = { "content-type": "application/json" };
  if (csrf) headers["x-csrf-token"] = csrf;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

async function assertion(options) {
  const credential = await navigator.credentials.get({
    publicKey: {
      challenge: b64u.dec(options.challenge),
      rpId: options.rpId,
      allowCredentials: options.allowCredentials.map((id) => ({ type: "public-key", id: b64u.dec(id) })),
      userVerification: "required",
      timeout: 60000,
    },
  });
  return {
    credentialId: b64u.enc(credential.rawId),
    authenticatorData: b64u.enc(credential.response.authenticatorData),
    clientDataJSON: b64u.enc(credential.response.clientDataJSON),
    signature: b64u.enc(credential.response.signature),
  };
}

async function signin(form) {
  const person = form.querySelector("[name=person]").value.trim();
  const options = await post("/signin/begin", { person });
  say("Touch your authenticator…");
  const signed = await assertion(options);
  await post("/signin/finish", { ceremony: options.ceremony, assertion: signed });
  window.location.assign("/");
}

async function decide(form, submitter) {
  const id = form.dataset.request;
  const csrf = form.dataset.csrf;
  const action = form.dataset.ceremony === "presence" ? "presence" : submitter.value;
  const commentField = form.querySelector("[name=comment]");
  const comment = commentField ? commentField.value : "";
  const options = await post(`/requests/${id}/begin`, { action, comment }, csrf);
  say("Touch your authenticator…");
  const signed = await assertion(options);
  await post(`/requests/${id}/finish`, { ceremony: options.ceremony, assertion: signed }, csrf);
  say("Recorded.");
  window.location.reload();
}

async function enroll(form) {
  const options = JSON.parse(form.dataset.options);
  say("Touch your authenticator…");
  const credential = await navigator.credentials.create({
    publicKey: {
      challenge: b64u.dec(options.challenge),
      rp: options.rp,
      user: { id: b64u.dec(options.user.id), name: options.user.name, displayName: options.user.displayName },
      pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -8 }],
      authenticatorSelection: { userVerification: "required", residentKey: "preferred" },
      attestation: "none",
      timeout: 60000,
    },
  });
  await post("/enroll/finish", {
    ceremony: options.ceremony,
    credentialId: b64u.enc(credential.rawId),
    clientDataJSON: b64u.enc(credential.response.clientDataJSON),
    attestationObject: b64u.enc(credential.response.attestationObject),
  });
  say("Enrolled. The passkey block for the policy is printed in the terminal; you can close this page.");
  document.body.dataset.enrolled = "yes";
}

const ceremonies = { signin, decide, presence: decide, enroll };

document.addEventListener("submit", (event) => {
  const form = event.target;
  const run = ceremonies[form.dataset.ceremony];
  if (!run) return;
  event.preventDefault();
  run(form, event.submitter).catch((error) => say(`Failed: ${error.message}`));
});

function formatLeft(seconds) {
  if (seconds <= 0) return "ended";
  const h = Math.floor(seconds / 3600);
  const m = String(Math.floor(seconds / 60) % 60).padStart(2, "0");
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}h ${m}m ${s}s` : `${Number(m)}m ${s}s`;
}

function tick() {
  const now = Math.floor(Date.now() / 1000);
  for (const cell of document.querySelectorAll(".countdown[data-end]")) {
    cell.textContent = formatLeft(Number(cell.dataset.end) - now);
  }
}

// Every update the page applies, with when (for the browser tests' latency figures).
window.breakglassUpdates = [];

// Rows are ordered by end, then id, as the server renders them.
function before(row, end, id) {
  const rowEnd = Number(row.dataset.end);
  return rowEnd > end || (rowEnd === end && row.dataset.activation > id);
}

function applyPatch(live, patch) {
  const rows = document.getElementById("active-rows");
  for (const id of patch.remove) {
    const row = rows.querySelector(`[data-activation="${CSS.escape(id)}"]`);
    if (row) row.remove();
  }
  for (const up of patch.upsert) {
    const old = rows.querySelector(`[data-activation="${CSS.escape(up.id)}"]`);
    if (old) old.remove();
    const holder = document.createElement("div");
    holder.innerHTML = up.html;
    const row = holder.firstElementChild;
    const next = [...rows.children].find((r) => before(r, up.end, up.id));
    rows.insertBefore(row, next || null);
  }
  document.getElementById("active-count").textContent = String(patch.count);
  document.getElementById("active-empty").hidden = patch.count > 0;
  for (const [id, html] of Object.entries(patch.sections)) {
    const section = document.getElementById(id);
    if (section) section.outerHTML = html;
  }
}

function listen() {
  const live = document.getElementById("live");
  if (!live) return;
  const connection = document.getElementById("connection");
  let version = Number(live.dataset.version);
  const events = new EventSource(`${live.dataset.events}?v=${version}`);
  const applied = () => {
    const ids = [...live.querySelectorAll("[data-activation]")].map((e) => e.dataset.activation);
    window.breakglassUpdates.push({ at: Date.now(), version, activations: ids });
    tick();
  };
  events.addEventListener("open", () => { connection.textContent = "live"; });
  events.addEventListener("error", () => { connection.textContent = "reconnecting…"; });
  // The whole live part: on connecting with an old version, or after falling behind.
  events.addEventListener("dashboard", (event) => {
    live.innerHTML = event.data;
    version = Number(event.lastEventId);
    applied();
  });
  // What changed since the version shown.
  events.addEventListener("patch", (event) => {
    const patch = JSON.parse(event.data);
    if (patch.base !== version) {
      // Out of step: start again from the whole dashboard.
      events.close();
      window.location.reload();
      return;
    }
    applyPatch(live, patch);
    version = patch.version;
    applied();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  listen();
  tick();
  setInterval(tick, 1000);
});
