/// A copy of `data` with the header's payload length and CRC made consistent, so that
/// mutations reach the graph decoder and validator instead of stopping at the checksum.
pub fn with_valid_checksum(data: &[u8]) -> Vec<u8> {
    let mut blob = data.to_vec();
    let header = mote::format::HEADER_LEN;
    if blob.len() >= header {
        let payload_len = (blob.len() - header) as u32;
        blob[8..12].copy_from_slice(&payload_len.to_le_bytes());
        let crc = mote::format::crc32(&[&blob[..12], &blob[header..]]);
        blob[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    blob
}
