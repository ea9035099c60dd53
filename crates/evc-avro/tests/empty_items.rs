//! Found by `cargo xtask fuzz` (avro_resolve): an array whose items take no bytes (`null`, a
//! record without fields, `fixed(0)`) can declare any count for the price of a varint, and the
//! readers looped that many times: a ten-byte message kept a consumer busy for ever. The
//! generated decoders' `read_array`, the resolver and its skipping of writer-only fields now
//! refuse more than `MAX_EMPTY_ITEMS` such items in one array.

use evc_avro::binary::{read_array, write_long, MAX_EMPTY_ITEMS};
use evc_avro::resolve::Resolver;
use evc_schema::Schema;

/// An array header declaring `n` items in one block, then its end.
fn huge_block(n: i64) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_long(&mut bytes, n);
    bytes.push(0);
    bytes
}

#[test]
fn the_generated_reader_refuses_endless_empty_items() {
    let bytes = huge_block(i64::MAX);
    let err = read_array(&mut &bytes[..], |_| Ok(())).unwrap_err();
    assert!(
        err.to_string().contains("items that take no bytes"),
        "{err}"
    );
    // Up to the cap they are read, as before.
    let bytes = huge_block(MAX_EMPTY_ITEMS as i64);
    let items = read_array(&mut &bytes[..], |_| Ok(())).unwrap();
    assert_eq!(items.len() as u64, MAX_EMPTY_ITEMS);
    // Many small blocks add up.
    let mut bytes = Vec::new();
    for _ in 0..3 {
        write_long(&mut bytes, (MAX_EMPTY_ITEMS / 2) as i64);
    }
    bytes.push(0);
    assert!(read_array(&mut &bytes[..], |_| Ok(())).is_err());
}

#[test]
fn items_that_take_bytes_are_bounded_by_the_input_as_before() {
    // 1000 one-byte items (zig-zag 0) read fine whatever the cap.
    let mut bytes = Vec::new();
    write_long(&mut bytes, 1000);
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    bytes.push(0);
    let items = read_array(&mut &bytes[..], evc_avro::binary::read_long).unwrap();
    assert_eq!(items.len(), 1000);
}

#[test]
fn the_resolver_refuses_endless_empty_items() {
    let writer = Schema::parse(
        r#"{"type":"record","name":"R","fields":[
            {"name":"nothing","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}},
            {"name":"nulls","type":{"type":"array","items":"null"}}]}"#,
    )
    .unwrap();
    // Resolving to itself rewrites both arrays; to a reader without them skips them.
    let reader_without = Schema::parse(r#"{"type":"record","name":"R","fields":[]}"#).unwrap();
    for reader in [&writer, &reader_without] {
        let r = Resolver::new(&writer, reader).unwrap();
        for bytes in [
            [huge_block(i64::MAX), vec![0]].concat(),
            [vec![0], huge_block(i64::MAX)].concat(),
        ] {
            let mut out = Vec::new();
            let mut input = &bytes[..];
            let err = r.transcode(&mut input, &mut out).unwrap_err();
            assert!(
                err.to_string().contains("items that take no bytes"),
                "{err}"
            );
        }
        let ok = [huge_block(3), huge_block(2)].concat();
        let (mut input, mut out) = (&ok[..], Vec::new());
        r.transcode(&mut input, &mut out).unwrap();
        assert!(input.is_empty(), "both arrays read to their end");
    }
}
