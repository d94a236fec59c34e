"""`cosictl`, the command-line client (console script `cosictl = cosid.cli.main:main`)."""
