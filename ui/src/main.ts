// Entry point: one screen for now, the Library.

import "./styles.css";
import { mountLibrary } from "./screens/Library/Library";

const root = document.getElementById("app");
if (!root) throw new Error("index.html must contain #app");
mountLibrary(root);
