# The environment of the golden notebooks, sourced by scripts/regen_golden.sh (which writes them) and
# scripts/nbval.sh (which re-executes and compares them): both must run the labs the same way.
export TF_CPP_MIN_LOG_LEVEL=3    # no TensorFlow C++ log lines
export CUDA_VISIBLE_DEVICES=-1   # CPU only: the golden numbers come from a CPU
export TF_NUM_INTRAOP_THREADS=${TF_NUM_INTRAOP_THREADS:-2}  # the same summation order whatever the number of cores
export TF_DETERMINISTIC_OPS=1    # deterministic kernels wherever TensorFlow has a choice
export PYTHONHASHSEED=0          # the same set order in every kernel
unset LABKIT_MAX_STEPS           # the quick profile's own loop lengths
