"""The web console: server-rendered pages (Jinja2, autoescaped) for a signed-in account,
served by the API itself; nothing is loaded from another origin."""
