"""HTTP blueprints: parse the request, call a service, render. No domain logic here."""
