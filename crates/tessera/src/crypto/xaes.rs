//! XAES-256-GCM (<https://c2sp.org/XAES-256-GCM>): AES-256-GCM with 192-bit nonces, which are
//! safe to pick at random.
//!
//! Built on the stable `aes` and `aes-gcm` crates (`aes-gcm` has had an NCC Group audit)
//! rather than RustCrypto's `xaes-256-gcm`, which is only published as an unaudited release
//! candidate on release-candidate dependencies. Each message's AES-256-GCM key comes from the NIST SP 800-108r1 counter KDF
//! with AES-256-CMAC, which for XAES's one-block inputs reduces to two AES-256 calls:
//!
//! 1. `L = AES-256_K(0^128)`, and `K1` is `L` doubled in GF(2^128) (CMAC's first subkey);
//! 2. `Kx = AES-256_K((00 01 'X' 00 || N[:12]) ⊕ K1) || AES-256_K((00 02 'X' 00 || N[:12]) ⊕ K1)`;
//! 3. the message is sealed with AES-256-GCM under `Kx` and the nonce `N[12:]`.
//!
//! Step 1 depends on the key only, so [`Xaes256Gcm::new`] does it once with the key schedule.

use aes::cipher::{BlockEncrypt, KeyInit as _};
use aes::{Aes256Enc, Block};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace as _, Error};
use aes_gcm::{AesGcm, Nonce, Tag};

/// AES-256-GCM on the encryption half of AES alone: GCM never decrypts a block, so the
/// decryption key schedule `aes::Aes256` would also expand for every message is skipped.
type Aes256Gcm = AesGcm<Aes256Enc, U12>;

/// The key's length in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// The nonce's length in bytes.
pub(crate) const NONCE_LEN: usize = 24;
/// The authentication tag's length in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// An XAES-256-GCM key with its AES-256 key schedule and CMAC subkey `K1` precomputed.
#[derive(Clone)]
pub(crate) struct Xaes256Gcm {
    aes: Aes256Enc,
    k1: u128,
}

impl Xaes256Gcm {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        let aes = Aes256Enc::new(key.into());
        let mut l = Block::default();
        aes.encrypt_block(&mut l);
        let l = u128::from_be_bytes(l.into());
        // Doubling without a branch on the secret top bit: x^128 = x^7 + x^2 + x + 1.
        let k1 = (l << 1) ^ ((l >> 127) * 0x87);
        Self { aes, k1 }
    }

    /// The message key `Kx` for `nonce` and the AES-256-GCM nonce `Nx`.
    fn message_cipher<'n>(&self, nonce: &'n [u8; NONCE_LEN]) -> (Aes256Gcm, &'n Nonce<U12>) {
        let mut blocks = [Block::default(); 2];
        for (counter, block) in (1u8..).zip(blocks.iter_mut()) {
            let mut m = [0u8; 16];
            m[1] = counter;
            m[2] = b'X';
            m[4..].copy_from_slice(&nonce[..12]);
            *block = (u128::from_be_bytes(m) ^ self.k1).to_be_bytes().into();
        }
        // Both blocks at once: AES-NI pipelines them.
        self.aes.encrypt_blocks(&mut blocks);
        let mut kx = [0u8; KEY_LEN];
        kx[..16].copy_from_slice(&blocks[0]);
        kx[16..].copy_from_slice(&blocks[1]);
        let cipher = Aes256Gcm::new(&kx.into());
        (cipher, Nonce::from_slice(&nonce[12..]))
    }

    /// Encrypts `buffer` in place and returns the tag.
    pub(crate) fn encrypt_in_place_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let (cipher, nx) = self.message_cipher(nonce);
        let tag = cipher.encrypt_in_place_detached(nx, aad, buffer)?;
        Ok(tag.into())
    }

    /// Decrypts `ciphertext` (followed by its tag) into a new buffer, or fails without a trace
    /// of plaintext when the tag does not verify.
    pub(crate) fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let Some(split) = ciphertext.len().checked_sub(TAG_LEN) else {
            return Err(Error);
        };
        let (ciphertext, tag) = ciphertext.split_at(split);
        let mut buffer = ciphertext.to_vec();
        let (cipher, nx) = self.message_cipher(nonce);
        cipher.decrypt_in_place_detached(nx, aad, &mut buffer, Tag::from_slice(tag))?;
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha3::digest::{ExtendableOutput, Update, XofReader};
    use sha3::Shake128;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn seal(x: &Xaes256Gcm, nonce: &[u8; NONCE_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut out = plaintext.to_vec();
        let tag = x.encrypt_in_place_detached(nonce, aad, &mut out).unwrap();
        out.extend_from_slice(&tag);
        out
    }

    fn check_vector(key: u8, aad: &[u8], l: &str, k1: &str, kx: &str, ciphertext: &str) {
        let x = Xaes256Gcm::new(&[key; KEY_LEN]);
        let nonce = b"ABCDEFGHIJKLMNOPQRSTUVWX";
        let mut l_block = Block::default();
        x.aes.encrypt_block(&mut l_block);
        assert_eq!(hex(&l_block), l);
        assert_eq!(hex(&x.k1.to_be_bytes()), k1);
        let (cipher, nx) = x.message_cipher(nonce);
        assert_eq!(hex(nx), "4d4e4f505152535455565758");
        // The derived key, checked through a cipher built from the expected Kx.
        let expected_kx: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&kx[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let reference = Aes256Gcm::new_from_slice(&expected_kx).unwrap();
        let mut a = *b"XAES-256-GCM";
        let mut b = a;
        assert_eq!(
            cipher.encrypt_in_place_detached(nx, aad, &mut a).unwrap(),
            reference
                .encrypt_in_place_detached(nx, aad, &mut b)
                .unwrap()
        );
        let sealed = seal(&x, nonce, b"XAES-256-GCM", aad);
        assert_eq!(hex(&sealed), ciphertext);
        assert_eq!(x.decrypt(nonce, aad, &sealed).unwrap(), b"XAES-256-GCM");
    }

    #[test]
    fn c2sp_vector_with_l_msb_zero() {
        check_vector(
            0x01,
            b"",
            "7298caa565031eadc6ce23d23ea66378",
            "e531954aca063d5b8d9c47a47d4cc6f0",
            "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
            "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
        );
    }

    #[test]
    fn c2sp_vector_with_l_msb_one() {
        check_vector(
            0x03,
            b"c2sp.org/XAES-256-GCM",
            "91c08762876dccf9ba204a33768fa5fe",
            "23810ec50edb99f374409466ed1f4b7b",
            "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
            "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
        );
    }

    #[test]
    fn c2sp_accumulated_10_000_iterations() {
        // Keys, nonces, plaintexts and AADs read from one SHAKE-128 stream of the empty input,
        // every ciphertext hashed into another.
        let mut rng = Shake128::default().finalize_xof();
        let mut hash = Shake128::default();
        for _ in 0..10_000 {
            let mut key = [0u8; KEY_LEN];
            rng.read(&mut key);
            let mut nonce = [0u8; NONCE_LEN];
            rng.read(&mut nonce);
            let mut len = [0u8; 1];
            rng.read(&mut len);
            let mut plaintext = vec![0u8; len[0].into()];
            rng.read(&mut plaintext);
            rng.read(&mut len);
            let mut aad = vec![0u8; len[0].into()];
            rng.read(&mut aad);
            let x = Xaes256Gcm::new(&key);
            let sealed = seal(&x, &nonce, &plaintext, &aad);
            assert_eq!(x.decrypt(&nonce, &aad, &sealed).unwrap(), plaintext);
            hash.update(&sealed);
        }
        let mut digest = [0u8; 32];
        hash.finalize_xof().read(&mut digest);
        assert_eq!(
            hex(&digest),
            "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
        );
    }

    #[test]
    fn tampering_and_short_input_fail() {
        let x = Xaes256Gcm::new(&[7; KEY_LEN]);
        let nonce = [9; NONCE_LEN];
        let sealed = seal(&x, &nonce, b"payload", b"aad");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert!(x.decrypt(&nonce, b"aad", &bad).is_err(), "byte {i}");
        }
        let mut other_nonce = nonce;
        other_nonce[0] ^= 1;
        assert!(x.decrypt(&other_nonce, b"aad", &sealed).is_err());
        other_nonce = nonce;
        other_nonce[23] ^= 1;
        assert!(x.decrypt(&other_nonce, b"aad", &sealed).is_err());
        assert!(x.decrypt(&nonce, b"other", &sealed).is_err());
        assert!(x.decrypt(&nonce, b"aad", &sealed[..TAG_LEN - 1]).is_err());
        assert!(x
            .decrypt(&nonce, b"", &seal(&x, &nonce, b"", b""))
            .unwrap()
            .is_empty());
    }
}
