"""The operator CLI (`eventshop`): one module per group of commands; `main` assembles them."""
