//! Which shard a key goes to: Kafka's default partitioner (murmur2 of the key bytes, made
//! positive, modulo the shard count), so a key lands in the same shard number on Kafka (Java
//! client, librdkafka's `murmur2_random`) and on Redis Streams.

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), as a signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The shard of `key` among `shards` (which must be at least 1).
pub fn shard_for(key: &[u8], shards: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafkas_murmur2() {
        // The values of the Java client's own tests of Utils.murmur2.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        for n in 1..9 {
            for key in ["", "a", "order-1", "5f0c6c7e-1d1b-4a53-9b0e-2a8f3c1d9e77"] {
                let s = shard_for(key.as_bytes(), n);
                assert!(s < n);
                assert_eq!(s, shard_for(key.as_bytes(), n));
            }
        }
        assert_eq!(shard_for(b"x", 0), 0, "no shards is treated as one");
    }
}
