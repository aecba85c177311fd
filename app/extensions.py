"""Flask extensions, created unbound and initialised by ``create_app``."""

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
htmx = HTMX()
limiter = Limiter(
    key_func=get_remote_address,
    in_memory_fallback_enabled=True,
    default_limits=[],
    headers_enabled=True,
)
