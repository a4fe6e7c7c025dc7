//! The session loop fed arbitrary bytes: the first byte picks the state the session is in
//! (not logged in, logged in, a mailbox selected read-write or read-only), the rest is what the
//! client sends. Any panic is a finding; the session must end when the input does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liteimap::fuzzing::{run_session, FuzzState};

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let state = match first % 4 {
        0 => FuzzState::NotAuthenticated,
        1 => FuzzState::Authenticated,
        2 => FuzzState::Selected,
        _ => FuzzState::ReadOnly,
    };
    run_session(state, input);
});
