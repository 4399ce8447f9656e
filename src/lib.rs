//! breakglass: placeholder while the foundation lands.
