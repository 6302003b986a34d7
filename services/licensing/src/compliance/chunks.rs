//! Result lists in chunks (`compliance_consumer_results` and the other
//! `compliance_*_results` tables), consumer results first: the results of up to
//! [`CONSUMERS_PER_CHUNK`] consumers, consecutive in id order, encoded
//! column by column with postcard (integers as varints) and compressed
//! with LZ4. A 300,000-computer estate has 6 million consumer results;
//! as rows of arrays they took PostgreSQL seconds to parse and index, as
//! 450 chunks they are one small write, and a page reads one or a few
//! chunks.
//!
//! Applications and licenses are 1-based numbers into the run's key
//! arrays (`compliance_run_keys`), like the node results' numbers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Consumers per chunk: a page with a consumer filter decodes one chunk
/// of about 20,000 results (a millisecond), and a 300,000-computer estate
/// has about 450 chunks.
pub const CONSUMERS_PER_CHUNK: usize = 1000;

/// Invalid assignments or transfers per chunk (`compliance_invalid_assignments`,
/// `compliance_transfers`).
pub const ENTRIES_PER_CHUNK: usize = 1000;

/// The first byte of every stored chunk: its format, so a later format
/// can be told from this one.
const FORMAT: u8 = 1;

/// One chunk, column by column: consumer `i` has `result_counts[i]`
/// results, which follow those of the consumers before it, and result
/// `j` has `license_counts[j]` covering licenses, likewise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    consumers: Vec<Uuid>,
    is_user: Vec<bool>,
    result_counts: Vec<u32>,
    applications: Vec<u32>,
    requirements: Vec<u32>,
    covered: Vec<u32>,
    /// Codes of `rows::CONSUMER_STATUSES`.
    statuses: Vec<u8>,
    license_counts: Vec<u32>,
    licenses: Vec<u32>,
}

/// One result of a consumer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult<'a> {
    pub application: u32,
    pub requirement: u32,
    pub covered: u32,
    pub status: u8,
    pub licenses: &'a [u32],
}

/// Stored results that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("stored results of unknown format {0}")]
    Format(u8),
    #[error("stored results are empty")]
    Empty,
    #[error("stored results do not decompress: {0}")]
    Compression(#[from] lz4_flex::block::DecompressError),
    #[error("stored results do not decode: {0}")]
    Encoding(#[from] postcard::Error),
    #[error("consumer results chunk's columns disagree in length")]
    Columns,
}

impl Chunk {
    /// Adds a consumer (after every one already in the chunk, in id
    /// order) with its results.
    pub fn push<'a>(
        &mut self,
        consumer: Uuid,
        is_user: bool,
        results: impl IntoIterator<Item = StoredResult<'a>>,
    ) {
        self.consumers.push(consumer);
        self.is_user.push(is_user);
        let mut count = 0;
        for result in results {
            count += 1;
            self.applications.push(result.application);
            self.requirements.push(result.requirement);
            self.covered.push(result.covered);
            self.statuses.push(result.status);
            self.license_counts.push(result.licenses.len() as u32);
            self.licenses.extend_from_slice(result.licenses);
        }
        self.result_counts.push(count);
    }

    pub fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// The first and last consumer, when any.
    pub fn bounds(&self) -> Option<(Uuid, Uuid)> {
        Some((*self.consumers.first()?, *self.consumers.last()?))
    }

    pub fn encode(&self) -> Vec<u8> {
        pack(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ChunkError> {
        let chunk: Self = unpack(bytes)?;
        chunk.check()?;
        Ok(chunk)
    }

    /// The columns agree, so reading never indexes out of range.
    fn check(&self) -> Result<(), ChunkError> {
        let results: u64 = self
            .result_counts
            .iter()
            .map(|&count| u64::from(count))
            .sum();
        let licenses: u64 = self
            .license_counts
            .iter()
            .map(|&count| u64::from(count))
            .sum();
        let consumers = self.consumers.len();
        let agree = self.is_user.len() == consumers
            && self.result_counts.len() == consumers
            && [
                self.applications.len(),
                self.requirements.len(),
                self.covered.len(),
                self.statuses.len(),
                self.license_counts.len(),
            ]
            .iter()
            .all(|&length| length as u64 == results)
            && self.licenses.len() as u64 == licenses;
        if agree {
            Ok(())
        } else {
            Err(ChunkError::Columns)
        }
    }

    /// Each consumer with whether it is a user and its results, in order.
    pub fn consumers(
        &self,
    ) -> impl Iterator<Item = (Uuid, bool, impl Iterator<Item = StoredResult<'_>>)> {
        let mut result = 0usize;
        let mut license = 0usize;
        (0..self.consumers.len()).map(move |index| {
            let results = result..result + self.result_counts[index] as usize;
            result = results.end;
            let first_license = license;
            license += self.license_counts[results.clone()]
                .iter()
                .map(|&count| count as usize)
                .sum::<usize>();
            let mut next_license = first_license;
            let stored = results.map(move |at| {
                let licenses = next_license..next_license + self.license_counts[at] as usize;
                next_license = licenses.end;
                StoredResult {
                    application: self.applications[at],
                    requirement: self.requirements[at],
                    covered: self.covered[at],
                    status: self.statuses[at],
                    licenses: &self.licenses[licenses],
                }
            });
            (self.consumers[index], self.is_user[index], stored)
        })
    }
}

/// The stored bytes of `value`: the format, then the LZ4 block (with its
/// size) of its postcard encoding.
pub fn pack<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let plain = postcard::to_allocvec(value).expect("stored results always encode");
    let mut bytes = vec![FORMAT];
    bytes.extend(lz4_flex::block::compress_prepend_size(&plain));
    bytes
}

/// Reads what [`pack`] stored.
pub fn unpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ChunkError> {
    let (&format, compressed) = bytes.split_first().ok_or(ChunkError::Empty)?;
    if format != FORMAT {
        return Err(ChunkError::Format(format));
    }
    let plain = lz4_flex::block::decompress_size_prepended(compressed)?;
    Ok(postcard::from_bytes(&plain)?)
}

/// One application's figures at a node, as stored in
/// `compliance_node_results`: the
/// node's row holds them in application order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFigures {
    /// A number into the run's application ids.
    pub application: u32,
    pub initial_requirement: u64,
    pub adjustments: i64,
    pub requirement: u64,
    pub coverage: u64,
    pub compliance: i64,
    pub unlimited: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(application: u32, licenses: &[u32]) -> StoredResult<'_> {
        StoredResult {
            application,
            requirement: 2,
            covered: licenses.len() as u32,
            status: if licenses.is_empty() { 2 } else { 1 },
            licenses,
        }
    }

    #[test]
    fn a_chunk_reads_back_what_was_pushed() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut chunk = Chunk::default();
        chunk.push(a, false, [result(4, &[7, 9]), result(5, &[])]);
        chunk.push(b, true, []);
        chunk.push(c, false, [result(4000, &[1])]);
        let read = Chunk::decode(&chunk.encode()).unwrap();
        assert_eq!(read, chunk);
        assert_eq!(read.bounds(), Some((a, c)));
        let consumers: Vec<(Uuid, bool, Vec<StoredResult<'_>>)> = read
            .consumers()
            .map(|(id, is_user, results)| (id, is_user, results.collect()))
            .collect();
        assert_eq!(
            consumers,
            vec![
                (a, false, vec![result(4, &[7, 9]), result(5, &[])]),
                (b, true, vec![]),
                (c, false, vec![result(4000, &[1])]),
            ]
        );
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let mut chunk = Chunk::default();
        chunk.push(Uuid::from_u128(1), false, [result(4, &[7])]);
        let bytes = chunk.encode();
        assert!(matches!(Chunk::decode(&[]), Err(ChunkError::Empty)));
        assert!(matches!(Chunk::decode(&[9]), Err(ChunkError::Format(9))));
        assert!(Chunk::decode(&bytes[..bytes.len() - 3]).is_err());
        // Columns that disagree: a result count with no results.
        let mut uneven = chunk.clone();
        uneven.result_counts[0] = 5;
        assert!(matches!(
            Chunk::decode(&pack(&uneven)),
            Err(ChunkError::Columns)
        ));
    }
}
