# Tokenizer: reference probes, the oracle (Hugging Face tokenizers through npm), parallel = serial,
# CLI round trips and errors.
df_test_exe(test_tok_probes test_tok_probes.c)
df_test(tok_probes 0 $<TARGET_FILE:test_tok_probes>)
df_test_exe(test_tok_oracle test_tok_oracle.c)
foreach(tk base16L:models/base-16L llama2:tokenizers/llama2-hf llama3:tokenizers/llama3-hf)
  string(REPLACE ":" ";" tk ${tk})
  list(GET tk 0 name)
  list(GET tk 1 dir)
  df_test(tok_oracle_${name} 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/tok_oracle.sh ${PROJECT_SOURCE_DIR}/tools/oracle
          ${DF_FIXTURES}/${dir}/tokenizer.json $<TARGET_FILE:test_tok_oracle>)
endforeach()
df_test_exe(test_tok_parallel test_tok_parallel.c)
df_test(tok_parallel 0 $<TARGET_FILE:test_tok_parallel>)
df_test(tok_cli 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/tok_cli.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
df_test(tok_oracle_variants 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/tok_variants.sh ${PROJECT_SOURCE_DIR}/tools/oracle
        $<TARGET_FILE:test_tok_oracle>)
df_test_exe(test_tok_nfc test_tok_nfc.c)
df_test(tok_nfc 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/tok_nfc.sh ${PROJECT_SOURCE_DIR}/tools/oracle $<TARGET_FILE:test_tok_nfc>)
