"""`python -m core login upstox|kite` and `python -m core instruments upstox|kite`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.broker.http import BrokerError
from core.broker.login import exchange_kite_request_token, exchange_upstox_code
from core.broker.master import fetch_master
from core.broker.tokens import TokenRecord, TokenSource, TokenStore
from core.clock import IST
from core.config import Config, load_config, validate_base_url


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("login", help="exchange a broker login's code for the day's access token and store it")
    brokers = p.add_subparsers(dest="broker", required=True)
    up = brokers.add_parser("upstox", help="the `code` Upstox sent to UPSTOX_REDIRECT_URI")
    up.add_argument("--code", required=True, help="the code parameter of the redirect URL")
    kite = brokers.add_parser("kite", help="the `request_token` Kite sent to your redirect URL")
    kite.add_argument(
        "--request-token", required=True, help="the request_token parameter of the redirect URL"
    )
    for q in (up, kite):
        q.add_argument("--base-url", help="replace the broker's scheme and host (e.g. a loopback server)")
    p.set_defaults(func=cmd_login)

    p = sub.add_parser("instruments", help="download today's instrument master into the data directory")
    p.add_argument("broker", choices=["upstox", "kite"])
    p.add_argument("--base-url", help="replace the broker's scheme and host (e.g. a loopback server)")
    p.set_defaults(func=cmd_instruments)


def _config(args: argparse.Namespace) -> Config:
    config = load_config()
    if args.base_url:
        field = f"{args.broker}_base_url"
        base = validate_base_url("--base-url", args.base_url)
        config = replace(config, secrets=replace(config.secrets, **{field: base}))
    return config


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, IST).isoformat(timespec="seconds")


def cmd_login(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        if args.broker == "upstox":
            record = exchange_upstox_code(config.secrets, args.code)
        else:
            record = exchange_kite_request_token(config.secrets, args.request_token)
    except BrokerError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    store = TokenStore(config.data_dir)
    store.save(record)
    print(json.dumps(describe(record, str(store.path))))
    return 0


def describe(record: TokenRecord, token_file: str) -> dict[str, Any]:
    """What a login reports: who, when, until when; never the token."""
    return {
        "broker": record.broker,
        "user_id": record.user_id,
        "obtained_at": _when(record.obtained_at),
        "expires_at": _when(record.expires_at),
        "token_file": token_file,
    }


def cmd_instruments(args: argparse.Namespace) -> int:
    config = _config(args)
    s = config.secrets
    env_token = s.upstox_access_token if args.broker == "upstox" else s.kite_access_token
    token = TokenSource(args.broker, TokenStore(config.data_dir), env_token)()
    base = s.upstox_base_url if args.broker == "upstox" else s.kite_base_url
    try:
        path, master = fetch_master(config.data_dir, args.broker, base, s.kite_api_key, token)
    except BrokerError as exc:
        print(f"instrument download failed: {exc}", file=sys.stderr)
        return 1
    symbols = {
        sym: {"expiries": len(master.expiries(sym)),
              "options": sum(len(master.strikes(sym, e)) * 2 for e in master.expiries(sym))}
        for sym in master.symbols()
    }  # fmt: skip
    print(json.dumps({"broker": args.broker, "file": str(path), "instruments": len(master),
                      "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "symbols": symbols}))  # fmt: skip
    return 0
