//! Where a bracketed JSON value ends: string- and escape-aware bracket matching that can stop
//! at the end of a buffer and go on in the next.
//!
//! Why 64 bytes at a time: delimiting every feature of a file byte by byte (with memchr across
//! strings) took 12% of a 1,000,000-image convert's CPU, on the thread that feeds both parsers.
//! Inside a value, a block of 64 bytes is classified with SIMD compares (`wide`, which keeps
//! this crate free of `unsafe`) into bit masks of quotes, backslashes and brackets; the strings
//! follow from those masks with the carry-less bit tricks of simdjson's first stage (Langdale
//! and Lemire, "Parsing gigabytes of JSON per second", 2019), and only the few brackets outside
//! strings are visited one by one. The byte loop remains for a value's first byte, a value
//! that is a string (member names), the last bytes of a buffer, and any block with a backslash
//! outside a string (invalid JSON, which the byte loop delimits exactly as before so that the
//! parser reports the same error).

use wide::u8x16;

/// The state between two buffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Brackets {
    depth: usize,
    in_string: bool,
    /// The next byte is escaped (the last one was a backslash inside a string).
    escaped: bool,
}

/// The bytes that matter outside strings.
const STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
};

const BLOCK: usize = 64;

/// What a block did.
enum Block {
    /// The value ends after this many of its bytes.
    Ended(usize),
    /// The value goes on past the block; the state is the one after it.
    Continues,
    /// The block has a backslash outside strings: left to the byte loop.
    Unusual,
}

impl Brackets {
    /// Scans `bytes` from where the last call stopped: `Some(n)` when the value ends after
    /// its first `n` bytes, `None` when it goes on past them. The first call's first byte is
    /// the value's first byte.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            let step = if self.depth == 0 {
                // The opening bracket, or a string that is the whole value.
                if self.in_string { rest.len() } else { 1 }
            } else if let Some(block) = rest.first_chunk::<BLOCK>() {
                match self.block(block) {
                    Block::Ended(n) => return Some(at + n),
                    Block::Continues => {
                        at += BLOCK;
                        continue;
                    }
                    Block::Unusual => BLOCK,
                }
            } else {
                rest.len()
            };
            if let Some(n) = self.bytewise(&rest[..step]) {
                return Some(at + n);
            }
            at += step;
        }
        None
    }

    /// One block inside a value (`depth > 0`).
    fn block(&mut self, block: &[u8; BLOCK]) -> Block {
        let [quotes, backslashes, opens, closes] = classify(block);
        // Escaped bytes: a backslash escapes the next byte unless it is escaped itself, so
        // what counts is whether each run of backslashes starts on an even or an odd bit.
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let carried = u64::from(self.escaped);
        let backslashes = backslashes & !carried;
        let follows_escape = (backslashes << 1) | carried;
        let odd_starts = backslashes & !EVEN & !follows_escape;
        let (even_runs, escape_out) = odd_starts.overflowing_add(backslashes);
        let escaped = (EVEN ^ (even_runs << 1)) & follows_escape;
        // Inside a string: from an unescaped quote up to the next, the opening one included.
        let mut inside = prefix_xor(quotes & !escaped);
        if self.in_string {
            inside = !inside;
        }
        if backslashes & !inside != 0 {
            return Block::Unusual;
        }
        let (opens, closes) = (opens & !inside, closes & !inside);
        let mut brackets = opens | closes;
        let mut depth = self.depth;
        while brackets != 0 {
            let at = brackets.trailing_zeros();
            if opens >> at & 1 == 1 {
                depth += 1;
            } else {
                depth -= 1;
                if depth == 0 {
                    *self = Brackets::default();
                    return Block::Ended(at as usize + 1);
                }
            }
            brackets &= brackets - 1;
        }
        *self = Brackets {
            depth,
            in_string: inside >> 63 == 1,
            escaped: escape_out,
        };
        Block::Continues
    }

    /// The byte loop.
    ///
    /// Why with locals: the same loop on the fields ran at about a third of this speed (a
    /// 400,000-feature file took 0.5 s of CPU to delimit), the fields being reloaded on every
    /// byte.
    fn bytewise(&mut self, bytes: &[u8]) -> Option<usize> {
        let Brackets {
            mut depth,
            mut in_string,
            mut escaped,
        } = *self;
        let mut i = 0;
        let ended = loop {
            if i >= bytes.len() {
                break None;
            }
            if escaped {
                escaped = false;
                i += 1;
            } else if in_string {
                // Strings are most of a feature's bytes: jump to the next quote or backslash.
                let Some(at) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
                    break None;
                };
                i += at;
                escaped = bytes[i] == b'\\';
                in_string = escaped;
                i += 1;
                if !in_string && depth == 0 {
                    break Some(i);
                }
            } else {
                while i < bytes.len() && !STRUCTURAL[usize::from(bytes[i])] {
                    i += 1;
                }
                let Some(&b) = bytes.get(i) else {
                    break None;
                };
                i += 1;
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    _ => {
                        // A value never starts with a closing bracket (the scanner refuses
                        // one first); saturating keeps even that from underflowing.
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break Some(i);
                        }
                    }
                }
            }
        };
        *self = Brackets {
            depth,
            in_string,
            escaped,
        };
        ended
    }
}

/// Bit `i` of each mask says whether byte `i` is a quote, a backslash, `{` or `[`, `}` or `]`.
fn classify(block: &[u8; BLOCK]) -> [u64; 4] {
    let (quote, backslash) = (u8x16::splat(b'"'), u8x16::splat(b'\\'));
    // `{` and `}` are `[` and `]` with bit 5 set.
    let (case, open, close) = (u8x16::splat(0x20), u8x16::splat(b'{'), u8x16::splat(b'}'));
    let mut masks = [0; 4];
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let bytes = u8x16::new(lane.try_into().unwrap_or_default());
        let folded = bytes | case;
        let lane_masks = [
            bytes.simd_eq(quote),
            bytes.simd_eq(backslash),
            folded.simd_eq(open),
            folded.simd_eq(close),
        ];
        for (mask, lane_mask) in masks.iter_mut().zip(lane_masks) {
            *mask |= u64::from(lane_mask.to_bitmask()) << (16 * k);
        }
    }
    masks
}

/// Bit `i` is the XOR of bits `0..=i`.
fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Brackets;

    /// Where the value starting at `bytes[0]` ends, fed in pieces of `piece` bytes, by the
    /// block path (`scan`) and by the byte loop alone.
    fn ends(bytes: &[u8], piece: usize) -> (Option<usize>, Option<usize>) {
        let run = |blocks: bool| {
            let mut state = Brackets::default();
            let mut at = 0;
            for chunk in bytes.chunks(piece) {
                let found = if blocks {
                    state.scan(chunk)
                } else {
                    state.bytewise(chunk)
                };
                if let Some(n) = found {
                    return Some(at + n);
                }
                at += chunk.len();
            }
            None
        };
        (run(true), run(false))
    }

    #[test]
    fn finds_the_end_of_nested_values_across_blocks_and_buffers() {
        let value = format!(
            r#"{{"a":"{}","b":[1,{{"c":"x\"}}]\\"}},2],"d":"{}\\\\"}}"#,
            "]".repeat(70),
            "\\\"{".repeat(40)
        );
        let input = format!("{value},{{\"next\":1}}");
        for piece in [1, 7, 63, 64, 65, 200, input.len()] {
            assert_eq!(
                ends(input.as_bytes(), piece),
                (Some(value.len()), Some(value.len()))
            );
        }
    }

    #[test]
    fn a_backslash_outside_strings_is_delimited_as_the_byte_loop_does() {
        let value = format!(r#"{{"a":{}\"b}}"}}"#, " ".repeat(80));
        let input = format!("{value}{}", " ".repeat(100));
        let (blocks, bytes) = ends(input.as_bytes(), input.len());
        assert_eq!(blocks, bytes);
        assert!(blocks.is_some());
    }

    #[test]
    fn an_unfinished_value_ends_nowhere() {
        let input = format!(r#"{{"a":["{}"#, "x".repeat(300));
        assert_eq!(ends(input.as_bytes(), 64), (None, None));
    }

    /// Well-formed strings (with escaped quotes, backslashes and brackets inside, of any
    /// length, so that escapes fall on block edges) between brackets and other bytes.
    fn tokens() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just("a"),
            Just("{"),
            Just("]"),
            Just("\\\\"),
            Just("\\\""),
            Just(" ")
        ];
        let string = proptest::collection::vec(piece, 0..40)
            .prop_map(|pieces| format!("\"{}\"", pieces.concat()).into_bytes());
        // More opening brackets than closing ones, so that values run over several blocks.
        let outside = prop_oneof![
            3 => Just("{"),
            3 => Just("["),
            1 => Just("}"),
            1 => Just("]"),
            1 => Just(","),
            1 => Just("1"),
        ]
        .prop_map(|b| b.as_bytes().to_vec());
        proptest::collection::vec(prop_oneof![string, outside], 0..80).prop_map(|t| t.concat())
    }

    /// One block read with masks and by the byte loop, from the state the byte loop is in
    /// after `prefix`: where each says the value ends, and the state after the block. Panics
    /// when the masks left the block to the byte loop.
    fn one_block(prefix: &[u8], block: &[u8; 64]) -> [(Option<usize>, Brackets); 2] {
        let mut by_bytes = Brackets::default();
        assert_eq!(by_bytes.bytewise(prefix), None, "the prefix ends the value");
        let mut by_masks = by_bytes;
        let ended = match by_masks.block(block) {
            super::Block::Ended(n) => Some(n),
            super::Block::Continues => None,
            super::Block::Unusual => panic!("a well-formed block was left to the byte loop"),
        };
        [(ended, by_masks), (by_bytes.bytewise(block), by_bytes)]
    }

    /// `text`, then spaces to 64 bytes.
    fn padded(text: &[u8]) -> [u8; 64] {
        let mut block = [b' '; 64];
        block[..text.len()].copy_from_slice(text);
        block
    }

    #[test]
    fn a_block_carries_an_escape_and_a_string_from_the_one_before() {
        // The prefix ends inside a string on a backslash: the block's first quote is escaped,
        // the string closes at the second, and the array and the object close after it.
        let [masks, bytes] = one_block(br#"{"a":["x\"#, &padded(br#""}]"]}"#));
        assert_eq!(masks.0, Some(6));
        assert_eq!(masks.0, bytes.0);
        // A block that ends inside a string opened on its last byte, after escaped
        // backslashes and quotes and brackets outside strings: the states after it agree.
        let open = br#""a":"\\\"]"["#;
        let mut block = [b'['; 64];
        block[..open.len()].copy_from_slice(open);
        block[63] = b'"';
        let [masks, bytes] = one_block(b"{", &block);
        assert_eq!((masks.0, bytes.0), (None, None));
        assert_eq!(masks.1, bytes.1);
        assert!(masks.1.in_string);
        assert_eq!(masks.1.depth, 1 + 63 - (open.len() - 1));
    }

    proptest! {
        /// From whatever state a well-formed prefix leaves, one block read with masks gives
        /// the byte loop's end or state, and is never left to the byte loop (no backslash is
        /// outside a string), so the masks are what is tested.
        #[test]
        fn a_block_agrees_with_the_byte_loop_from_any_state(
            body in tokens(),
            cut in 1_usize..200,
        ) {
            let mut input = vec![b'{'];
            input.extend(body);
            let (prefix, rest) = input.split_at(cut.min(input.len()));
            let open = Brackets::default().bytewise(prefix).is_none();
            if let (true, Some(block)) = (open, rest.first_chunk::<64>()) {
                let [masks, bytes] = one_block(prefix, block);
                prop_assert_eq!(masks.0, bytes.0);
                if masks.0.is_none() {
                    prop_assert_eq!(masks.1, bytes.1);
                }
            }
        }

        /// Valid strings among brackets, from a `{`, in any piece size: the block path agrees
        /// with the byte loop.
        #[test]
        fn blocks_agree_with_the_byte_loop_on_strings(body in tokens(), piece in 1_usize..300) {
            let mut input = vec![b'{'];
            input.extend(body);
            let (blocks, bytes) = ends(&input, piece);
            prop_assert_eq!(blocks, bytes);
        }

        /// Any mix of the bytes that matter, backslashes outside strings included.
        #[test]
        fn blocks_agree_with_the_byte_loop(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'"'), Just(b'\\'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'),
                    Just(b'a'), Just(b' '), Just(b':'),
                ],
                0..600,
            ),
            piece in 1_usize..300,
        ) {
            let mut input = vec![b'{'];
            input.extend(body);
            let (blocks, bytes) = ends(&input, piece);
            prop_assert_eq!(blocks, bytes);
        }
    }
}
