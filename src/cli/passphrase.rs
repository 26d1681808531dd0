//! Where passphrases come from: an inherited descriptor, a file, a command, or the controlling
//! terminal, in that order. Never argv and never an environment variable holding the secret.
//!
//! Every source reads one line into a pre-sized zeroizing buffer, byte by byte, so no
//! reallocation leaves a copy of the secret behind, and nothing past the first line is read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::seq::SliceRandom;
use rustix::termios::{self, LocalModes, OptionalActions};
use tvault::crypto::{MAX_PASSPHRASE_BYTES, Passphrase};
use zeroize::{Zeroize, Zeroizing};

use super::error::{CliError, Exit};

/// Where to get the vault passphrase, as the global flags say.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub fd: Option<i32>,
    pub file: Option<PathBuf>,
    pub command: Option<String>,
    /// `--no-input`: never prompt.
    pub no_input: bool,
}

/// The source that will be used: the first one given.
enum Source<'a> {
    Fd(i32),
    File(&'a Path),
    Command(&'a str),
    Terminal,
}

impl Sources {
    fn pick(&self) -> Source<'_> {
        if let Some(fd) = self.fd {
            Source::Fd(fd)
        } else if let Some(file) = &self.file {
            Source::File(file)
        } else if let Some(cmd) = &self.command {
            Source::Command(cmd)
        } else {
            Source::Terminal
        }
    }

    /// True when the passphrase will be typed at the terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(self.pick(), Source::Terminal)
    }

    /// Reads the passphrase once.
    pub fn read(&self, prompt: &str) -> Result<Passphrase, CliError> {
        let raw = match self.pick() {
            Source::Fd(fd) => {
                // /dev/fd/N opens the inherited descriptor without unsafe code.
                let mut f = File::open(format!("/dev/fd/{fd}")).map_err(|e| {
                    CliError::new(
                        Exit::NoSecretSource,
                        format!("cannot read passphrase descriptor {fd}"),
                    )
                    .with_source(&e)
                    .hint("pass a descriptor the shell opened, e.g. --passphrase-fd 3 3<file")
                })?;
                read_line(&mut f).map_err(|e| source_error("--passphrase-fd", e))?
            }
            Source::File(path) => {
                let mut f = File::open(path).map_err(|e| {
                    CliError::new(
                        Exit::NoSecretSource,
                        format!("cannot read the passphrase file {}", path.display()),
                    )
                    .with_source(&e)
                    .hint("check the file's path and that you may read it (`-v` shows why not)")
                })?;
                read_line(&mut f).map_err(|e| source_error("the passphrase file", e))?
            }
            Source::Command(cmd) => run_command(cmd)?,
            Source::Terminal => {
                let mut tty = self.terminal()?;
                tty.prompt(prompt)?
            }
        };
        Passphrase::from_bytes(raw).map_err(|e| {
            CliError::new(Exit::Failure, e.to_string())
                .hint("a passphrase is one line of UTF-8 text")
        })
    }

    /// Opens the controlling terminal, or says why a passphrase cannot be asked for.
    pub fn terminal(&self) -> Result<Terminal, CliError> {
        let no_way = || {
            CliError::new(Exit::NoSecretSource, "a passphrase is needed and there is no terminal to ask on")
                .hint("give it with --passphrase-file FILE, --passphrase-fd N or --passphrase-command CMD (or TVAULT_PASSPHRASE_FILE / TVAULT_PASSPHRASE_COMMAND)")
        };
        if self.no_input {
            return Err(no_way());
        }
        Terminal::open().map_err(|_| no_way())
    }
}

fn source_error(what: &str, e: io::Error) -> CliError {
    CliError::new(
        Exit::NoSecretSource,
        format!("cannot read a passphrase from {what}"),
    )
    .with_source(&e)
}

/// Reads one line (without its `\n` or `\r\n`) into a pre-sized zeroizing buffer.
fn read_line(r: &mut dyn Read) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_BYTES + 2));
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() > MAX_PASSPHRASE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the first line is longer than {MAX_PASSPHRASE_BYTES} bytes"),
                    ));
                }
                line.push(byte[0]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    byte.zeroize();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Runs `sh -c CMD` and takes the first line it prints. Its stdin is closed, so it cannot
/// swallow a statement piped to tvault; its stderr is the user's.
fn run_command(cmd: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let fail = |msg: String| {
        CliError::new(Exit::NoSecretSource, msg)
            .hint("check the command given with --passphrase-command or TVAULT_PASSPHRASE_COMMAND")
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail("cannot run the passphrase command".into()).with_source(&e))?;
    let mut out = child.stdout.take().expect("stdout was piped");
    let line = read_line(&mut out);
    // Drain the rest so the command is not killed by a closed pipe; keep none of it.
    let mut sink = Zeroizing::new(vec![0u8; 4096]);
    while matches!(out.read(&mut sink), Ok(n) if n > 0) {}
    let status = child
        .wait()
        .map_err(|e| fail("the passphrase command did not finish".into()).with_source(&e))?;
    if !status.success() {
        return Err(fail(format!("the passphrase command failed ({status})")));
    }
    line.map_err(|e| source_error("the passphrase command", e))
}

/// The controlling terminal, opened directly so prompts work while stdin carries data.
pub struct Terminal {
    tty: File,
}

impl Terminal {
    // Opens the terminal device; creates nothing.
    #[allow(clippy::disallowed_methods)]
    fn open() -> io::Result<Self> {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Terminal { tty })
    }

    pub fn say(&mut self, text: &str) -> Result<(), CliError> {
        self.tty
            .write_all(text.as_bytes())
            .and_then(|()| self.tty.flush())
            .map_err(|e| CliError::new(Exit::Io, "cannot write to the terminal").with_source(&e))
    }

    /// Asks for a secret with echo off; echo comes back even if reading fails.
    pub fn prompt(&mut self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
        self.say(prompt)?;
        let saved = termios::tcgetattr(&self.tty);
        if let Ok(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            quiet.local_modes.insert(LocalModes::ECHONL);
            let _ = termios::tcsetattr(&self.tty, OptionalActions::Flush, &quiet);
        }
        let line = read_line(&mut self.tty);
        if let Ok(saved) = &saved {
            let _ = termios::tcsetattr(&self.tty, OptionalActions::Now, saved);
        }
        line.map_err(|e| source_error("the terminal", e))
    }
}

impl Terminal {
    /// Reads text typed on the terminal, line by line, until a line holding only `.` or the
    /// end of input (Ctrl-D), into a zeroizing buffer that grows by copying (no reallocation
    /// leaves a copy behind). At most `limit` bytes.
    pub fn read_text(&mut self, limit: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
        let mut text = Zeroizing::new(Vec::with_capacity(16 * 1024));
        let mut buf = Zeroizing::new(vec![0u8; 8192]);
        loop {
            let n = match self.tty.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(source_error("the terminal", e)),
            };
            if (text.len() + n) as u64 > limit {
                return Err(CliError::new(
                    Exit::Failure,
                    format!("the statement is longer than {} MiB", limit >> 20),
                )
                .hint("save it to a file and give it with --text-file FILE"));
            }
            if text.len() + n > text.capacity() {
                let mut bigger = Zeroizing::new(Vec::with_capacity((text.len() + n) * 2));
                bigger.extend_from_slice(&text);
                text = bigger;
            }
            text.extend_from_slice(&buf[..n]);
            // The terminal hands over one line per read: look for the closing `.` line.
            if text.as_slice() == b".\n" || text.ends_with(b"\n.\n") {
                let keep = text.len() - 2;
                text[keep..].fill(0);
                text.truncate(keep);
                break;
            }
        }
        Ok(text)
    }

    /// Asks for something sensitive with echo on (a witness's name: the operator checks what
    /// they typed) and returns it trimmed, in a zeroizing string.
    pub fn ask_private_line(&mut self, question: &str) -> Result<Zeroizing<String>, CliError> {
        self.say(question)?;
        let line = read_line(&mut self.tty).map_err(|e| source_error("the terminal", e))?;
        let text = String::from_utf8_lossy(&line);
        Ok(Zeroizing::new(text.trim().to_owned()))
    }

    /// Asks a question with echo on and returns the answer (not a secret).
    pub fn ask_line(&mut self, question: &str) -> Result<String, CliError> {
        self.say(question)?;
        let line = read_line(&mut self.tty).map_err(|e| source_error("the terminal", e))?;
        Ok(String::from_utf8_lossy(&line).into_owned())
    }
}

/// How many words a generated passphrase has: 7 from the EFF long list, about 90 bits.
const GENERATED_WORDS: usize = 7;

/// A random word passphrase from the EFF long wordlist.
pub fn generate() -> Zeroizing<String> {
    let words = diceware_wordlists::Wordlist::EffLong.get_list();
    let mut rng = rand::rngs::OsRng;
    let mut out = Zeroizing::new(String::with_capacity(GENERATED_WORDS * 12));
    for i in 0..GENERATED_WORDS {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(words.choose(&mut rng).expect("the word list is not empty"));
    }
    out
}

/// Refuses a passphrase that zxcvbn rates below "safely unguessable" (score 3), with its
/// advice as hints.
pub fn check_strength(passphrase: &Passphrase) -> Result<(), CliError> {
    check_text_strength(
        passphrase.expose_secret_str(),
        "`tvault init --generate-passphrase` makes a strong one of seven words",
    )
}

/// [`check_strength`] for any secret text, with `advice` as the last hint but one.
pub fn check_text_strength(text: &str, advice: &str) -> Result<(), CliError> {
    let estimate = zxcvbn::zxcvbn(text, &["tvault", "vault", "witness", "export"]);
    if estimate.score() >= zxcvbn::Score::Three {
        return Ok(());
    }
    let mut err = CliError::new(Exit::Failure, "this passphrase is too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(w) = feedback.warning() {
            err = err.hint(w.to_string());
        }
        for s in feedback.suggestions() {
            err = err.hint(s.to_string());
        }
    }
    Err(err
        .hint(advice)
        .hint("--allow-weak-passphrase accepts it anyway"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_first_line_and_strips_its_ending() {
        let mut input: &[u8] = b"correct horse\r\nsecond line";
        assert_eq!(read_line(&mut input).unwrap().as_slice(), b"correct horse");
        assert_eq!(input, b"second line");
        let mut input: &[u8] = b"no newline";
        assert_eq!(read_line(&mut input).unwrap().as_slice(), b"no newline");
        let long = vec![b'a'; MAX_PASSPHRASE_BYTES + 10];
        assert!(read_line(&mut long.as_slice()).is_err());
    }

    #[test]
    fn generated_passphrases_are_seven_words_and_strong() {
        let p = generate();
        assert_eq!(p.split(' ').count(), GENERATED_WORDS);
        let pass = Passphrase::from_bytes(Zeroizing::new(p.as_bytes().to_vec())).unwrap();
        assert!(check_strength(&pass).is_ok());
        let weak = Passphrase::from_bytes(Zeroizing::new(b"password1".to_vec())).unwrap();
        assert!(check_strength(&weak).is_err());
    }
}
