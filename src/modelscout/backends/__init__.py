"""How a candidate turns inputs into features. Library-specific code lives only here."""
