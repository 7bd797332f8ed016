"""Staff sign-in: second factors, lockout, re-authentication, session limits and their audit."""
