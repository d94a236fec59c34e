"""The daemon as grpcurl users see it: the real binary, server reflection only, no proto files."""
