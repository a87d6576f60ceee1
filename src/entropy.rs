//! Random bytes from the operating system, for session ids, salts, generated secrets and
//! instance ids. A leaf: it imports nothing of the crate.

/// Fills `buf` from the operating system's random source.
///
/// # Panics
/// When the operating system has no random source to give, which leaves nothing safe to
/// sign sessions with.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::getrandom(buf).expect("the operating system's random source failed");
}
