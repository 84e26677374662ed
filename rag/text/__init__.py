"""Text in, features out: chunking, embedding, and the lexical side (stems, accent folding,
sentence co-occurrence). Imports only config, types, errors and files."""
