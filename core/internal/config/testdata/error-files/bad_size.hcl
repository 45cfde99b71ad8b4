pipeline "p" {
  source "test" {
    name   = "src"
    buffer = "lots" # ERROR: "lots" is not a valid size for "buffer"
  }
  serializer "canal" {}
  sink "test" {
    name   = "snk"
    buffer = "2GiB" # ERROR: "buffer" must be at most 1GiB; got 2GiB
  }
  filter "test" {
    name   = "f"
    buffer = 1.5 # ERROR: whole, non-negative number of bytes
  }
  runtime {
    max_in_flight_bytes = "512KiB" # ERROR: "max_in_flight_bytes" must be at least 1MiB; got 512KiB
  }
}
