"""A small Streamlit app for bench/interactive.sh (cold start and environment restore)."""

import streamlit as st

st.title("Porch bench")
n = st.slider("n", 1, 100, 10)
st.write(f"The sum of 1..{n} is {sum(range(1, n + 1))}.")
