//! The MIME layer on arbitrary bytes: parse, the cache round trip, ENVELOPE and BODYSTRUCTURE
//! rendered and encoded by imap-codec, every section of every part, and the SEARCH text keys.
#![no_main]

use imap_codec::encode::Encoder;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::ResponseCodec;
use libfuzzer_sys::fuzz_target;
use liteimap::imap::render;
use liteimap::mime::{self, MessageInfo, PartInfo, PartKind, SectionKind};

fn paths(part: &PartInfo, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
    if out.len() > 200 {
        return;
    }
    let children: Vec<&PartInfo> = match &part.kind {
        PartKind::Multipart(c) => c.iter().collect(),
        PartKind::Message(m) => vec![&m.root],
        PartKind::Single => vec![],
    };
    for (i, c) in children.iter().enumerate() {
        prefix.push(i as u32 + 1);
        out.push(prefix.clone());
        paths(c, prefix, out);
        prefix.pop();
    }
}

fuzz_target!(|raw: &[u8]| {
    let info = mime::parse(raw);
    let decoded = MessageInfo::decode(&info.encode());
    assert_eq!(decoded.as_ref(), Some(&info), "cache round trip");

    let items = vec![
        MessageDataItem::Envelope(render::envelope(&info.envelope)),
        MessageDataItem::Body(render::body_structure(&info.root, false)),
        MessageDataItem::BodyStructure(render::body_structure(&info.root, true)),
    ];
    let response = Response::Data(Data::Fetch {
        seq: std::num::NonZeroU32::MIN,
        items: items.try_into().unwrap(),
    });
    let _ = ResponseCodec::default().encode(&response).dump();

    let mut all = vec![vec![], vec![1], vec![2, 1], vec![0], vec![u32::MAX]];
    paths(&info.root, &mut Vec::new(), &mut all);
    let names = vec!["Subject".to_string(), "FROM".to_string(), String::new()];
    for path in &all {
        for kind in [
            SectionKind::Full,
            SectionKind::Header,
            SectionKind::Text,
            SectionKind::Mime,
            SectionKind::HeaderFields(names.clone()),
            SectionKind::HeaderFieldsNot(names.clone()),
        ] {
            let a = info.section(raw, path, &kind);
            // The streamed form answers the same bytes as the whole-message form.
            let b = info.section_bytes(raw.len(), path, &kind).map(|r| match r {
                mime::SectionBytes::Range(s, e) => raw[s..e].to_vec(),
                mime::SectionBytes::Filtered {
                    start,
                    end,
                    names,
                    keep,
                } => mime::filter_header(&raw[start..end], &names, keep),
            });
            assert_eq!(a.map(|c| c.into_owned()), b);
        }
        let _ = info.decoded_part(raw, path);
    }
    for needle in ["", "a", "hello", "\u{e9}", "=?"] {
        let _ = mime::header_contains(raw, "subject", needle);
        let _ = mime::body_contains(raw, &info, needle);
        let _ = mime::text_contains(raw, &info, needle);
    }
    let _ = info.sent_date();
    let _ = mime::normalize_crlf(raw);
});
