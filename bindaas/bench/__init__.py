"""Every benchmark in one place, above the API (they start servers and chains): ingest and chain costs,
verification, finality under interval mining, clinical interoperability, prediction. ``bindaas bench`` runs them
all in one run (``bindaas.bench.run``)."""
