"""Operating Hamafza: dead letters, item status, stream hygiene and the embedded Redis."""
