"""The web app for patients, clinicians and auditors: static files built from ``web/`` (``node web/build.mjs``)
and shipped in the package, served at ``/app`` under a strict Content-Security-Policy."""
