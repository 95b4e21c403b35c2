"""`advisor-bot`: the command line. Exit codes: 0 fine, 1 something was rejected, 2 misuse or
configuration error (the message names the variable)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence

from bot import logs
from bot.config import ConfigError, Settings, load_settings

log = logging.getLogger("bot.cli")


def _prepare_database(settings: Settings):  # type: ignore[no-untyped-def]
    """Connect, and on the embedded default bring the schema up to date; return the engine."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config, check_connection, create_db_engine, upgrade

    engine = create_db_engine(settings.effective_database_url)
    check_connection(engine)
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return engine
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigError(
            [
                f"DATABASE_URL: schema is at {current or 'nothing'}, code needs {head}; "
                "run `advisor-bot db upgrade` first"
            ]
        )
    return engine


def _live():  # type: ignore[no-untyped-def]
    """Settings and database for a process that talks to WeCom (`serve`, `worker`)."""
    settings = load_settings()
    settings.require_wecom()
    logs.configure(settings.bot_log_level, settings.secret_values())
    return settings, _prepare_database(settings)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.db import check_connection, create_db_engine, redact_url, upgrade

    settings = load_settings()
    engine = create_db_engine(settings.effective_database_url)
    check_connection(engine)
    upgrade(engine)
    print(f"数据库已升级到最新版本：{redact_url(settings.effective_database_url)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import build_runtime, create_app

    settings, engine = _live()
    runtime = build_runtime(settings, engine)
    _seed(settings, engine, runtime.catalog.knowledge, runtime.checker)
    app = create_app(runtime, run_workers=not args.no_workers)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.app import build_runtime

    settings, engine = _live()

    async def main() -> None:
        runtime = build_runtime(settings, engine)
        try:
            if args.once:
                await runtime.run_until_idle()
            else:
                await runtime.start_workers()
                await asyncio.Event().wait()
        finally:
            await runtime.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(
        once=args.once,
        host=args.host,
        port=args.port,
        sandbox_port=args.sandbox_port,
        data_dir=args.data_dir,
        verbose=args.verbose,
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the WeCom sandbox alone, with the app credentials from the environment."""
    import uvicorn

    from bot.demo import ADVISORS, CUSTOMERS, demo_sandbox
    from bot.wecom.sandbox import create_sandbox_app

    settings = load_settings()
    settings.require_wecom()
    assert settings.wecom_secret and settings.wecom_token and settings.wecom_encoding_aes_key
    sandbox = demo_sandbox(
        {
            "corp_id": settings.wecom_corp_id or "",
            "agent_id": str(settings.wecom_agent_id),
            "secret": settings.wecom_secret.get_secret_value(),
            "token": settings.wecom_token.get_secret_value(),
            "aes_key": settings.wecom_encoding_aes_key.get_secret_value(),
        }
    )
    logs.configure(settings.bot_log_level, settings.secret_values())
    print(
        f"WeCom sandbox: members {', '.join(ADVISORS)}; external contacts "
        f"{', '.join(c[0] for c in CUSTOMERS)}; API base http://{args.host}:{args.port}/cgi-bin"
    )
    app = create_sandbox_app(sandbox, callback_url=args.callback_url)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Import a feed file; exit 1 when any row was rejected."""
    import time
    from pathlib import Path

    from bot.clock import SystemClock
    from bot.customers.feeds import FeedError, read_feed
    from bot.customers.ingest import KIND_LABEL, ingest

    settings = load_settings()
    engine = _prepare_database(settings)
    started = time.monotonic()

    def progress(kind: str, done: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        print(
            f"\r{KIND_LABEL[kind]}：已处理 {done} 行（{rate:,.0f} 行/秒）",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        report = ingest(
            engine,
            read_feed(Path(args.file), args.kind),
            clock=SystemClock(),
            source="feed",
            progress=progress if sys.stderr.isatty() or args.progress else None,
        )
    except FeedError as exc:
        print(f"advisor-bot: {exc}", file=sys.stderr)
        return 2
    if sys.stderr.isatty() or args.progress:
        print(file=sys.stderr)
    for rejection in report.rejections[:1000]:
        print(rejection)
    if len(report.rejections) > 1000:
        print(f"……另有 {len(report.rejections) - 1000} 行被拒绝")
    print(f"导入完成（{time.monotonic() - started:.1f} 秒）：{report.summary()}")
    return 1 if report.rejections else 0


def cmd_check(args: argparse.Namespace) -> int:
    """Check a draft: exit 0 when it may be sent (warnings allowed), 1 when something blocks."""
    import json

    from bot.compliance.check import Checker
    from bot.knowledge.base import load_knowledge_or_fail

    text = sys.stdin.read() if args.text == "-" else args.text
    result = Checker(load_knowledge_or_fail(load_settings())).check(
        text, required=args.require or []
    )
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.summary())
    return 1 if result.blocked else 0


def _knowledge(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.compliance.check import Checker
    from bot.knowledge.base import load_knowledge_or_fail

    knowledge = load_knowledge_or_fail(settings)
    return knowledge, Checker(knowledge)


def cmd_scripts_lint(args: argparse.Namespace) -> int:
    """Lint the library files: `file:line: reason` lines, exit 1 when there are any."""
    from pathlib import Path

    from bot.scripts.library import lint

    settings = load_settings()
    knowledge, checker = _knowledge(settings)
    directory = Path(args.dir) if args.dir else settings.bot_scripts_dir
    problems = lint(directory, knowledge, checker)
    for problem in problems:
        print(problem)
    count = len(list(directory.glob("*.yaml")))
    print(f"检查了 {directory} 中的 {count} 个文件：{len(problems)} 个问题", file=sys.stderr)
    return 1 if problems else 0


def cmd_scripts_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sqlmodel import Session

    from bot.db import read_only
    from bot.scripts.excel import export

    settings = load_settings()
    engine = _prepare_database(settings)
    _seed(settings, engine, *_knowledge(settings))
    with Session(read_only(engine)) as session:
        n = export(session, Path(args.file))
    print(f"已导出 {n} 个话术版本到 {args.file}")
    return 0


def cmd_scripts_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.clock import SystemClock
    from bot.db import session_scope
    from bot.scripts.excel import import_file

    settings = load_settings()
    knowledge, checker = _knowledge(settings)
    engine = _prepare_database(settings)
    _seed(settings, engine, knowledge, checker)
    path = Path(args.file)
    if not path.exists():
        print(f"advisor-bot: 文件不存在：{path}", file=sys.stderr)
        return 2
    with session_scope(engine) as session:
        counts, problems = import_file(
            session,
            path,
            clock=SystemClock(),
            knowledge=knowledge,
            checker=checker,
            actor=args.actor,
        )
    for problem in problems:
        print(problem)
    print(
        f"导入完成：新增 {counts['inserted']}，更新 {counts['updated']}，"
        f"未变 {counts['unchanged']}，问题 {len(problems)} 行"
    )
    return 1 if problems else 0


def _seed(settings: Settings, engine, knowledge, checker):  # type: ignore[no-untyped-def]
    """Load the seed library into the database (lint must pass)."""
    from bot.clock import SystemClock
    from bot.scripts.seed import seed_library

    return seed_library(
        engine,
        directory=settings.bot_scripts_dir,
        knowledge=knowledge,
        checker=checker,
        clock=SystemClock(),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advisor-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server and the workers")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="web only; run `advisor-bot worker` processes beside it",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the inbox processor and the dispatcher only")
    worker.add_argument("--once", action="store_true", help="process what is due, then exit")
    worker.set_defaults(func=cmd_worker)

    demo = sub.add_parser("demo", help="everything on SQLite with the local WeCom sandbox")
    demo.add_argument("--once", action="store_true", help="play the exchange, print, exit")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8700, help="the bot's port (0: any free)")
    demo.add_argument("--sandbox-port", type=int, default=8701, help="the sandbox's port")
    demo.add_argument("--data-dir", default=None, help="keep the demo database here")
    demo.add_argument("--verbose", action="store_true", help="show the bot's JSON logs")
    demo.set_defaults(func=cmd_demo)

    ingest = sub.add_parser("ingest", help="import advisors, customers or events from a file")
    ingest.add_argument("file", help=".json, .ndjson, .csv or .xlsx")
    ingest.add_argument(
        "--kind",
        choices=("advisors", "customers", "events"),
        help="the record kind (required for NDJSON, CSV and single-sheet xlsx)",
    )
    ingest.add_argument(
        "--progress", action="store_true", help="show progress even when stderr is not a terminal"
    )
    ingest.set_defaults(func=cmd_ingest)

    check = sub.add_parser("check", help="compliance check of a draft (exit 1: blocked)")
    check.add_argument("text", help="the draft, or - to read it from standard input")
    check.add_argument("--json", action="store_true", help="machine-readable findings")
    check.add_argument(
        "--require",
        action="append",
        metavar="DISCLOSURE",
        help="a disclosure key the text must carry (repeatable)",
    )
    check.set_defaults(func=cmd_check)

    sandbox = sub.add_parser("sandbox", help="serve the local WeCom sandbox on its own port")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8701)
    sandbox.add_argument(
        "--callback-url", default=None, help="the bot's /wecom/callback URL, to post pushes to it"
    )
    sandbox.set_defaults(func=cmd_sandbox)

    scripts = sub.add_parser("scripts", help="the script library")
    scripts_sub = scripts.add_subparsers(dest="scripts_command", required=True, metavar="ACTION")
    lint = scripts_sub.add_parser("lint", help="check the library files (exit 1 on problems)")
    lint.add_argument("dir", nargs="?", help="library directory (default BOT_SCRIPTS_DIR)")
    lint.set_defaults(func=cmd_scripts_lint)
    exp = scripts_sub.add_parser("export", help="write every script version to an xlsx file")
    exp.add_argument("file")
    exp.set_defaults(func=cmd_scripts_export)
    imp = scripts_sub.add_parser("import", help="load script versions from an xlsx file")
    imp.add_argument("file")
    imp.add_argument("--actor", default="excel-import", help="who is importing (audit log)")
    imp.set_defaults(func=cmd_scripts_import)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"advisor-bot: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
