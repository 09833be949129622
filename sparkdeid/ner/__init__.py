"""PHI detection in text: recognizers (header, rules, names, models) and NerDeid."""
