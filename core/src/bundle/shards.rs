//! Records spread over buckets by a hash of their identity, so that a changed record changes
//! only its own bucket's shard. Each bucket is one gzip member, split into parts of at most
//! [`SHARD_BYTES`]; the parts of every bucket, concatenated in order, are one multi-member gzip
//! stream of the records.

use std::collections::HashMap;
use std::io::Write;

use sha2::{Digest, Sha256};

/// Largest shard: well below the 512 KiB the design allows, itself below etcd's 1.5 MiB.
pub const SHARD_BYTES: usize = 480 * 1024;
/// Uncompressed bytes a bucket holds at most on average (compressed, a fifth to a hundredth of
/// it: Apis of one config look alike). A changed record recompresses its whole bucket (at
/// 1 MiB, most of a 20,000-Api pass's encoding); while many records change, each changed bucket
/// is a write (at 256 KiB, 1,000 Apis applied at once took 155).
pub const BUCKET_RAW_BYTES: usize = 512 * 1024;
/// Most buckets a config is spread over.
const MAX_BUCKETS: usize = 4096;

/// One part of one bucket, as written into a ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The bucket it belongs to.
    pub bucket: usize,
    /// Its place among the bucket's parts (0 unless the bucket exceeds [`SHARD_BYTES`]).
    pub part: usize,
    /// Hex SHA-256 of `data` (40 digits: fits a label value).
    pub hash: String,
    /// gzip bytes.
    pub data: Vec<u8>,
}

/// How many buckets `raw` bytes of records are spread over: the `previous` count while buckets
/// hold between a quarter and twice [`BUCKET_RAW_BYTES`] on average (a growing config is
/// re-spread, and so rewritten whole, only when it doubles), else the power of two that puts
/// at most [`BUCKET_RAW_BYTES`] in each.
pub fn bucket_count(raw: usize, previous: Option<usize>) -> usize {
    let ideal = raw.div_ceil(BUCKET_RAW_BYTES).next_power_of_two().clamp(1, MAX_BUCKETS);
    match previous {
        Some(previous)
            if previous.is_power_of_two()
                && previous <= MAX_BUCKETS
                && raw <= previous * 2 * BUCKET_RAW_BYTES
                && raw * 4 >= previous * BUCKET_RAW_BYTES =>
        {
            previous
        }
        _ => ideal,
    }
}

/// The bucket of the record called `identity`, among `count`.
pub fn bucket_of(identity: &str, count: usize) -> usize {
    let digest = Sha256::digest(identity.as_bytes());
    let number = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
    (number % count as u64) as usize
}

/// Compressed buckets by the SHA-256 of their index and their records' digests: an encoding
/// compresses only the buckets that changed since the one before (gzip is most of its time).
#[derive(Debug, Default)]
pub struct Compressed {
    by_content: HashMap<[u8; 32], Vec<Shard>>,
}

/// A record as [`spread`] places it: its identity and the SHA-256 of its JSON.
#[derive(Clone, Copy, Debug)]
pub struct Placed<'a> {
    /// Its identity (which decides its bucket).
    pub identity: &'a str,
    /// The SHA-256 of its JSON.
    pub digest: [u8; 32],
}

/// The shards of `records` spread over `count` buckets, in bucket order; empty buckets have
/// none. A bucket is known by its records' digests: buckets `cache` holds are not compressed
/// again (nor their records serialized: `json` appends the JSON of the record at an index
/// only for buckets compressed anew); `cache` then holds these.
pub fn spread(
    records: &[Placed<'_>],
    count: usize,
    cache: &mut Compressed,
    mut json: impl FnMut(usize, &mut Vec<u8>),
) -> Vec<Shard> {
    let mut buckets = vec![Vec::new(); count];
    for (index, record) in records.iter().enumerate() {
        buckets[bucket_of(record.identity, count)].push(index);
    }
    let mut shards = Vec::new();
    let mut kept = HashMap::new();
    for (bucket, members) in buckets.iter().enumerate().filter(|(_, members)| !members.is_empty()) {
        let mut digest = Sha256::new();
        digest.update((bucket as u64).to_be_bytes());
        for &index in members {
            digest.update(records[index].digest);
        }
        let content: [u8; 32] = digest.finalize().into();
        let parts = cache.by_content.remove(&content).unwrap_or_else(|| {
            let mut raw = Vec::new();
            for &index in members {
                json(index, &mut raw);
                raw.push(b'\n');
            }
            compress(bucket, &raw)
        });
        shards.extend(parts.iter().cloned());
        kept.insert(content, parts);
    }
    cache.by_content = kept;
    shards
}

/// The parts of `bucket`'s gzip'd `raw` records.
fn compress(bucket: usize, raw: &[u8]) -> Vec<Shard> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(raw).expect("writing to memory");
    let compressed = gzip.finish().expect("writing to memory");
    compressed
        .chunks(SHARD_BYTES)
        .enumerate()
        .map(|(part, data)| Shard { bucket, part, hash: hex_hash(data), data: data.to_vec() })
        .collect()
}

/// Hex SHA-256 of `data`, its first 20 bytes.
pub fn hex_hash(data: &[u8]) -> String {
    Sha256::digest(data).iter().take(20).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_the_size_with_hysteresis() {
        assert_eq!(bucket_count(0, None), 1);
        assert_eq!(bucket_count(BUCKET_RAW_BYTES, None), 1);
        assert_eq!(bucket_count(BUCKET_RAW_BYTES + 1, None), 2);
        assert_eq!(bucket_count(40 * BUCKET_RAW_BYTES, None), 64);
        // Kept while buckets hold between a quarter and twice the target...
        assert_eq!(bucket_count(40 * BUCKET_RAW_BYTES, Some(32)), 32);
        assert_eq!(bucket_count(40 * BUCKET_RAW_BYTES, Some(128)), 128);
        // ...re-spread beyond.
        assert_eq!(bucket_count(80 * BUCKET_RAW_BYTES, Some(32)), 128);
        assert_eq!(bucket_count(BUCKET_RAW_BYTES, Some(64)), 1);
        assert_eq!(bucket_count(BUCKET_RAW_BYTES, Some(3)), 1, "not a power of two");
    }

    #[test]
    fn a_record_keeps_its_bucket_and_buckets_are_used_evenly() {
        assert_eq!(bucket_of("api/shop/orders/list", 64), bucket_of("api/shop/orders/list", 64));
        let mut used = [0usize; 16];
        for index in 0..16_000 {
            used[bucket_of(&format!("api/shop/group/api-{index}"), 16)] += 1;
        }
        assert!(used.iter().all(|&count| (800..1200).contains(&count)), "{used:?}");
    }

    /// Spreads `records` (identity and JSON) over `count` buckets; returns the shards and the
    /// indices of the records serialized.
    fn spread_all(records: &[(String, Vec<u8>)], count: usize, cache: &mut Compressed) -> (Vec<Shard>, Vec<usize>) {
        let placed: Vec<Placed> =
            records.iter().map(|(identity, json)| Placed { identity, digest: Sha256::digest(json).into() }).collect();
        let mut serialized = Vec::new();
        let shards = spread(&placed, count, cache, |index, out| {
            serialized.push(index);
            out.extend_from_slice(&records[index].1);
        });
        (shards, serialized)
    }

    #[test]
    fn only_changed_buckets_are_compressed_again() {
        let other = (0..).map(|index| format!("b{index}")).find(|id| bucket_of(id, 64) != bucket_of("a", 64));
        let other = other.expect("a record of another bucket");
        let records =
            |changed: &str| vec![("a".to_owned(), b"first".to_vec()), (other.clone(), changed.as_bytes().to_vec())];
        let mut cache = Compressed::default();
        let (before, serialized) = spread_all(&records("second"), 64, &mut cache);
        assert_eq!((before.len(), serialized.len()), (2, 2), "two buckets, both written");
        assert_eq!(cache.by_content.len(), 2);
        let (after, serialized) = spread_all(&records("changed"), 64, &mut cache);
        assert_eq!(after, spread_all(&records("changed"), 64, &mut Compressed::default()).0, "as if compressed afresh");
        assert_eq!(after.iter().filter(|shard| before.contains(shard)).count(), 1, "one bucket kept");
        assert_eq!(serialized, vec![1], "only the changed bucket's record serialized");
        assert_eq!(cache.by_content.len(), 2, "the cache holds the last encoding's buckets only");
    }

    #[test]
    fn a_bucket_beyond_the_shard_size_is_split_into_parts() {
        // Random bytes as hex do not compress below half.
        let noise: Vec<String> =
            (0..4).map(|_| (0..400_000).map(|_| format!("{:x}", fastrand::u8(..16))).collect()).collect();
        let records: Vec<(String, Vec<u8>)> = noise
            .iter()
            .enumerate()
            .map(|(index, text)| (format!("record-{index}"), text.clone().into_bytes()))
            .collect();
        let (shards, _) = spread_all(&records, 1, &mut Compressed::default());
        assert!(shards.len() > 1, "{} shards", shards.len());
        assert!(shards.iter().all(|shard| shard.bucket == 0 && shard.data.len() <= SHARD_BYTES));
        assert_eq!(shards.iter().map(|shard| shard.part).collect::<Vec<_>>(), (0..shards.len()).collect::<Vec<_>>());
    }
}
