"""The knowledge base in `knowledge/`: products, disclosures, lexicon, FAQ, MOT strategies."""
