"""Sites that embed the chat widget: their keys, allowed origins and signing secrets (`store`),
and the rules every widget request is checked by (`rules`)."""
