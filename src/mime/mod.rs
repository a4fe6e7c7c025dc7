//! Placeholder until the MIME layer lands (branch `mime`).
pub struct MessageInfo;

pub fn parse(_raw: &[u8]) -> MessageInfo {
    MessageInfo
}

impl MessageInfo {
    pub fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
}
