"""The visit state machine, one module per part of a visit (each a mixin of `kiosk.controller.Controller`)."""
