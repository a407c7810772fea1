/* libFuzzer target: config_load_string on arbitrary bytes must return 0 or an error with
 * messages, never crash, leak or hang; a loaded config must print. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    setenv("DEMO_PASSWORD", "Abc@34590", 1);
    setenv("FUZZ_HOST", "api.example:8080", 1);
    setenv("FUZZ_EMPTY", "", 1);
    unsetenv("FUZZ_UNSET");
    ready = 1;
  }
  buf_t errors = BUF_INIT;
  config_t *cfg = NULL;
  int rc = config_load_string((const char *)data, size, "fuzz.yaml", &cfg, &errors);
  if (rc == 0) {
    if (!cfg || errors.len) abort();
    FILE *null = fopen("/dev/null", "w");
    if (null) {
      config_print(cfg, null);
      fclose(null);
    }
    for (int i = 0; i < API_EP_COUNT; i++)
      if (config_rate_limit_ms(cfg, (api_endpoint_t)i) < 0) abort();
  } else if (cfg || (rc == -22 && errors.len == 0)) {
    abort(); /* a rejected configuration always says why */
  }
  config_free(cfg);
  buf_free(&errors);
  return 0;
}
