"""The report layer: R's number formats, lme4's summaries (text and HTML), tidy tables, plots."""
