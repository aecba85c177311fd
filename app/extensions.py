"""Flask extensions, created unbound and initialised by ``create_app``. (The rate limiter is
not here: each app gets its own, with its own storage, from ``app.rate_limits``.)"""

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
htmx = HTMX()
