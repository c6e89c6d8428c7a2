"""Data of the text coders: the cm1 model table, its curated phrases and corpus licences."""
