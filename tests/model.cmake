# Foundation: ops, checkpoints, the forward pass against transformers, perplexity.
df_test_exe(test_reference test_reference.c)
df_test(reference 0 $<TARGET_FILE:test_reference> models/base-16L 2e-2)
# Llama-3 rope scaling + tied + head_dim, Qwen2 biases, Mistral (sharded), Llama attention_bias
foreach(arch tiny-llama3-tied tiny-qwen2 tiny-mistral tiny-llama-attn-bias)
  df_test(reference_${arch} 0 $<TARGET_FILE:test_reference> arch/${arch} 1e-4)
endforeach()
df_test_exe(test_tied test_tied.c)
df_test(tied_embeddings 0 $<TARGET_FILE:test_tied>)
df_test_exe(test_load_errors test_load_errors.c)
df_test(load_errors 0 $<TARGET_FILE:test_load_errors>)
df_test(cli_load_errors 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_errors.sh $<TARGET_FILE:test_load_errors>
        ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
df_test_exe(test_ops test_ops.c)
df_test(ops 0 $<TARGET_FILE:test_ops>)
df_test_exe(test_safetensors test_safetensors.c)
df_test(safetensors 0 $<TARGET_FILE:test_safetensors>)
df_test(ppl_reference 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_ppl.sh
        "brown.test.txt nlpc.test.txt kjv.test.txt wordnet.test.txt" "1:1" ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
