"""The HTTP front: parse, call the domain, render the Apideck envelope. No business rules here."""
