"""The composition: typed config model, wiring of components, output contract."""
