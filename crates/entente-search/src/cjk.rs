//! The text analyzer of the index: words of alphabetic scripts as tantivy's default analyzer
//! makes them (split on what is not a letter or digit, lower-cased, tokens over 40 bytes
//! dropped), and runs of Chinese, Japanese and Korean text as overlapping bigrams, the approach
//! of Lucene's CJK analyzer. Unspaced Japanese such as サイバー攻撃が発生しました is one "word" to the
//! default analyzer, so 攻撃 could never match; as bigrams (サイ, イバ, …, 攻撃, 撃が, …) any
//! two-character or longer substring is found, a longer one as a phrase of its bigrams. A single
//! CJK character alone matches only a one-character run. No dictionary is needed, so nothing
//! large ships with the binary.

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The analyzer's name in the schema (a change of analyzer is a change of schema, and an index
/// written with another one is rebuilt at start-up).
pub const ANALYZER: &str = "entente_cjk_bigram";

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CjkBigramTokenizer)
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

/// Whether `c` is written without spaces between words: Han ideographs, kana, Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005 | 0x3006 | 0x3007            // 々 〆 〇
        | 0x3040..=0x30FF                   // hiragana, katakana (with ー)
        | 0x31F0..=0x31FF                   // katakana phonetic extensions
        | 0x3400..=0x4DBF                   // CJK extension A
        | 0x4E00..=0x9FFF                   // CJK unified ideographs
        | 0xF900..=0xFAFF                   // CJK compatibility ideographs
        | 0xFF66..=0xFF9F                   // half-width katakana
        | 0x1100..=0x11FF                   // Hangul jamo
        | 0x3130..=0x318F                   // Hangul compatibility jamo
        | 0xAC00..=0xD7AF                   // Hangul syllables
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

#[derive(Clone, Default)]
pub struct CjkBigramTokenizer;

pub struct CjkBigramStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for CjkBigramTokenizer {
    type TokenStream<'a> = CjkBigramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CjkBigramStream {
        let mut tokens = Vec::new();
        let mut push = |from: usize, to: usize| {
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position: tokens.len(),
                text: text[from..to].to_owned(),
                position_length: 1,
            })
        };
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if is_cjk(c) {
                // The run's characters; each adjacent pair is a token.
                let mut run = vec![(start, c.len_utf8())];
                while let Some(&(i, d)) = chars.peek() {
                    if !is_cjk(d) {
                        break;
                    }
                    run.push((i, d.len_utf8()));
                    chars.next();
                }
                if run.len() == 1 {
                    push(run[0].0, run[0].0 + run[0].1);
                } else {
                    for w in run.windows(2) {
                        push(w[0].0, w[1].0 + w[1].1);
                    }
                }
            } else if c.is_alphanumeric() {
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if !d.is_alphanumeric() || is_cjk(d) {
                        break;
                    }
                    end = i + d.len_utf8();
                    chars.next();
                }
                push(start, end);
            }
        }
        CjkBigramStream { tokens, next: 0 }
    }
}

impl TokenStream for CjkBigramStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    fn tokens(text: &str) -> Vec<String> {
        let mut a = super::analyzer();
        let mut s = a.token_stream(text);
        let mut out = vec![];
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn latin_words_as_before_and_cjk_runs_as_bigrams() {
        assert_eq!(
            tokens("Port-closure CLAIMS, 2026"),
            ["port", "closure", "claims", "2026"]
        );
        assert_eq!(
            tokens("サイバー攻撃が発生しました"),
            [
                "サイ", "イバ", "バー", "ー攻", "攻撃", "撃が", "が発", "発生", "生し", "しま",
                "まし", "した"
            ]
        );
        // Mixed text: the Latin word and the CJK run are separate.
        assert_eq!(tokens("GNSS妨害"), ["gnss", "妨害"]);
        assert_eq!(tokens("海"), ["海"]);
        // Korean (Hangul syllables) and punctuation between runs.
        assert_eq!(tokens("해상 안보。演習"), ["해상", "안보", "演習"]);
        // A token over 40 bytes is dropped, as by the default analyzer.
        assert!(tokens(&"x".repeat(41)).is_empty());
    }
}
