# The sanitizer build's test set (label asan): the unit and CLI tests that need no slow reference
# (no PyTorch/transformers or Node oracle runs, no long layout sweeps), run by tools/test.sh in
# build-asan (cmake -DDF_SANITIZE=ON). Included by tests/CMakeLists.txt after every area's tests.
set(DF_ASAN_TESTS
    h5store_np1 h5store_np2 partition cli_convert
    tasks loglik_np1 loglik_np2_pipeline loglik_np2_data
    importance_np1 importance_np2
    reference tied_embeddings load_errors ops safetensors
    tok_probes costs
    ${DF_HARDENING_TESTS})
get_property(df_all_tests DIRECTORY PROPERTY TESTS)
foreach(t ${DF_ASAN_TESTS})
  if(t IN_LIST df_all_tests)
    set_property(TEST ${t} APPEND PROPERTY LABELS asan)
  endif()
endforeach()
# ASan reports with whole stacks (so the suppressions can tell Open MPI's allocations from ours),
# Open MPI's plugins kept loaded at exit (named in those stacks), UBSan fatal with a stack
if(DF_SANITIZE)
  foreach(t ${df_all_tests})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
      "ASAN_OPTIONS=fast_unwind_on_malloc=0:malloc_context_size=20:detect_leaks=1"
      "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tools/sanitizer.supp:print_suppressions=0"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
      "OMPI_MCA_mca_base_component_disable_dlclose=1")
  endforeach()
endif()
