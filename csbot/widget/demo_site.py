"""A demo shop page on its own origin (port) that embeds the widget from the csbot server.

Query parameters become the script tag's data attributes (`?locale=en&user_id=u1&user_hash=...`),
so tests and demos can try identity validation without editing HTML. The page's own CSS is
deliberately loud (global `button` and `*` rules) to show that the widget is isolated from it.
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from csbot.services import Service, start_process

log = logging.getLogger(__name__)

ATTRS = ("tenant", "locale", "user_id", "user_hash", "color", "position", "open")


def render_page(api_base: str, params: dict[str, str]) -> str:
    """The shop page; `params` become `data-*` attributes of the widget's script tag."""
    attrs = {"tenant": "demo", "locale": "zh-CN", **{k: v for k, v in params.items() if k in ATTRS and v}}
    data = " ".join(f'data-{k.replace("_", "-")}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    src = html.escape(f"{api_base.rstrip('/')}/widget.js", quote=True)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>小智商城 · Demo shop</title>
<style>
  * {{ font-family: Georgia, serif; }}
  body {{ margin: 0; background: #faf7f0; color: #333; }}
  header {{ background: #b5482b; color: #fff; padding: 16px 24px; font-size: 22px; }}
  main {{ padding: 24px; display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 16px; }}
  .card {{ background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 3px rgba(0,0,0,.1); }}
  button {{ background: lime !important; color: red !important; font-size: 30px !important; }}
  div {{ line-height: 1.6; }}
</style></head>
<body>
<header>小智商城 SmartMall</header>
<main>
  <div class="card"><h3>无线耳机 Pro</h3><p>¥399</p><button id="buy1">加入购物车</button></div>
  <div class="card"><h3>智能手表 S2</h3><p>¥899</p><button id="buy2">加入购物车</button></div>
  <div class="card"><h3>机械键盘 K8</h3><p>¥459</p><button id="buy3">加入购物车</button></div>
</main>
<script src="{src}" {data} async></script>
</body></html>
"""


def make_handler(api_base: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            if url.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = render_page(api_base, params).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("demo site: " + format, *args)

    return Handler


def serve(port: int, api_base: str, host: str = "127.0.0.1") -> None:
    ThreadingHTTPServer((host, port), make_handler(api_base)).serve_forever()


def start_demo_site(port: int, api_base: str, log_dir: Path | None = None) -> Service:
    """Start the demo shop page as its own process on `port` (another origin than the API)."""
    argv = [sys.executable, "-m", "csbot.widget.demo_site", "--port", str(port), "--api-base", api_base]
    svc = start_process("demo-site", argv, log_dir or Path("var") / "logs", port=port, ready_timeout_s=30)
    svc.url = f"http://127.0.0.1:{port}/"
    return svc


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="csbot demo shop page embedding the widget")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-base", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ns = ap.parse_args()
    serve(ns.port, ns.api_base, ns.host)
