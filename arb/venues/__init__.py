"""The venues: one package each (`arb/venues/<name>/`), listed in `arb.venues.registry`;
`base` is what every public client shares, `spec` what the app knows of a venue."""
