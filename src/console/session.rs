//! Signed-in sessions and WebAuthn ceremonies in progress, held in memory: a restart signs
//! everyone out, which is the safe direction. Session ids and CSRF tokens are 256-bit random
//! values; the cookie carries only the id (`Secure; HttpOnly; SameSite=Strict`).

use jiff::{SignedDuration, Timestamp};
use rand::TryRng;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a session lasts.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(8);
/// How long a ceremony's challenge may be answered.
pub const CEREMONY_LIFETIME: SignedDuration = SignedDuration::from_mins(5);
/// The session cookie's name.
pub const COOKIE: &str = "breakglass_session";

/// A random 256-bit value, hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something to recover from here.
    let _ = rand::rngs::SysRng.try_fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub person: String,
    /// The token every form and POST must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// What a ceremony will sign, once the browser answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    /// Who is expected to answer.
    pub person: String,
    /// The payload type.
    pub payload_type: String,
    /// The payload whose challenge the browser signs.
    pub payload: Vec<u8>,
    /// The request it is about (none for sign-in).
    pub request: Option<String>,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// Sessions and ceremonies.
#[derive(Debug, Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    ceremonies: Mutex<HashMap<String, Ceremony>>,
}

impl Sessions {
    /// Starts a session for `person`; returns its id.
    pub fn start(&self, person: &str, now: Timestamp) -> (String, Session) {
        let id = random_id();
        let session = Session {
            person: person.to_owned(),
            csrf: random_id(),
            expires_at: now.checked_add(SESSION_LIFETIME).unwrap_or(now),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session `id`.
    pub fn get(&self, id: &str, now: Timestamp) -> Option<Session> {
        let sessions = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.get(id).filter(|s| s.expires_at > now).cloned()
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }

    /// Remembers a ceremony; returns its id.
    pub fn begin(&self, ceremony: Ceremony, now: Timestamp) -> String {
        let id = random_id();
        let mut ceremonies =
            self.ceremonies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ceremonies.retain(|_, c| c.expires_at > now);
        ceremonies.insert(id.clone(), ceremony);
        id
    }

    /// Takes ceremony `id` (each is answered once).
    pub fn finish(&self, id: &str, now: Timestamp) -> Option<Ceremony> {
        let mut ceremonies =
            self.ceremonies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ceremonies.remove(id).filter(|c| c.expires_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_ceremonies_expire_and_ceremonies_are_taken_once() {
        let sessions = Sessions::default();
        let now = Timestamp::UNIX_EPOCH;
        let (id, session) = sessions.start("carol", now);
        assert_eq!(sessions.get(&id, now), Some(session));
        assert_eq!(sessions.get(&id, now.checked_add(SESSION_LIFETIME).unwrap()), None);
        sessions.end(&id);
        assert_eq!(sessions.get(&id, now), None);
        let ceremony = Ceremony {
            person: "carol".to_owned(),
            payload_type: "t".to_owned(),
            payload: vec![1],
            request: None,
            expires_at: now.checked_add(CEREMONY_LIFETIME).unwrap(),
        };
        let cid = sessions.begin(ceremony.clone(), now);
        assert_eq!(sessions.finish(&cid, now), Some(ceremony));
        assert_eq!(sessions.finish(&cid, now), None);
    }
}
