//! `trader console`: the client of the daemon's console socket. With a command it prints the answer and exits
//! (1 when the daemon reports a failure); without one it is an interactive session with line editing and
//! history (`~/.trader_console_history`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ConsoleArgs;

struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    fn open(socket: &std::path::Path) -> anyhow::Result<Connection> {
        let stream = UnixStream::connect(socket).with_context(|| {
            format!("cannot reach the daemon's console at {} (is `trader run` running? see --socket)", socket.display())
        })?;
        Ok(Connection { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    /// Send one command; the answer's lines up to the closing `.` (or `.!`: then `false`).
    fn ask(&mut self, line: &str) -> anyhow::Result<(bool, Vec<String>)> {
        writeln!(self.writer, "{line}")?;
        self.writer.flush()?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                anyhow::bail!("the daemon closed the console connection");
            }
            let line = line.trim_end_matches('\n');
            match line {
                "." => return Ok((true, lines)),
                ".!" => return Ok((false, lines)),
                _ => lines.push(line.strip_prefix('.').unwrap_or(line).to_owned()),
            }
        }
    }
}

pub fn run(args: &ConsoleArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut connection = Connection::open(&args.socket)?;
    let prefix = if json { "json " } else { "" };
    if !args.command.is_empty() {
        let (ok, lines) = connection.ask(&format!("{prefix}{}", args.command.join(" ")))?;
        for line in &lines {
            println!("{line}");
        }
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".trader_console_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("trader console on {} — `help` lists the commands, Ctrl-D leaves", args.socket.display());
    loop {
        match editor.readline("trader> ") {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) if matches!(line.trim(), "quit" | "exit") => break,
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                for answer in connection.ask(&format!("{prefix}{}", line.trim()))?.1 {
                    println!("{answer}");
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}
