//! `faultline serve`: binds the address the flags name, prints it, and hands the listener to
//! [`faultline::report::serve`].

use crate::cmd::args::ServeArgs;
use crate::cmd::output;
use anyhow::{Context, Result};
use faultline::exit::ExitCode;

/// `faultline serve`: serves the store until interrupted.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
            .await
            .with_context(|| format!("bind {}:{}", args.bind, args.port))?;
        let addr = listener.local_addr()?;
        output::print(&format!(
            "faultline: serving {} at http://{addr}/\n",
            args.store.display()
        ))?;
        faultline::report::serve::run(listener, &args.store).await
    })?;
    Ok(ExitCode::Valid)
}
