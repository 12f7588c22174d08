//! Exit codes: one mapping from verdicts and failures to the process's exit status, used by
//! every subcommand (the exit codes of docs/design.md, with unknown apart from errors).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | valid: every check passed |
//! | 1 | invalid: a check found a violation (a definite finding about the system) |
//! | 2 | error: a usage error (as clap reports it), bad input, or a run that failed; the code clap and ripgrep use for errors |
//! | 3 | unknown: a check could not decide (its budget was spent) |
//!
//! When several results are combined (several files, several checks), invalid wins, then an
//! error, then unknown: a finding is never hidden by a file that could not be read, and an
//! input that needs fixing is never hidden by an undecided check.

use checker::Verdict;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything valid.
    Valid = 0,
    /// Something invalid.
    Invalid = 1,
    /// Bad input, a usage error, or the run itself failed.
    Error = 2,
    /// A check could not decide.
    Unknown = 3,
}

impl ExitCode {
    /// The code of a verdict.
    pub fn of(verdict: Verdict) -> ExitCode {
        match verdict {
            Verdict::Valid => ExitCode::Valid,
            Verdict::Invalid => ExitCode::Invalid,
            Verdict::Unknown => ExitCode::Unknown,
        }
    }

    /// The code of two results together: invalid, then error, then unknown, then valid.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        let rank = |e: ExitCode| match e {
            ExitCode::Valid => 0,
            ExitCode::Unknown => 1,
            ExitCode::Error => 2,
            ExitCode::Invalid => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(exit: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_map_to_0_1_and_3() {
        assert_eq!(ExitCode::of(Verdict::Valid).code(), 0);
        assert_eq!(ExitCode::of(Verdict::Invalid).code(), 1);
        assert_eq!(ExitCode::Error.code(), 2);
        assert_eq!(ExitCode::of(Verdict::Unknown).code(), 3);
    }

    #[test]
    fn invalid_wins_then_error_then_unknown() {
        use ExitCode::*;
        let all = [Valid, Invalid, Error, Unknown];
        for a in all {
            assert_eq!(a.worst(Valid), a);
            assert_eq!(Valid.worst(a), a);
            assert_eq!(a.worst(Invalid), Invalid);
            assert_eq!(Invalid.worst(a), Invalid);
        }
        assert_eq!(Unknown.worst(Error), Error);
        assert_eq!(Error.worst(Unknown), Error);
    }
}
