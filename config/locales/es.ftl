# Plaza — textos en español. Cada mensaje que ve un vecino o un equipo sale de aquí.
# Variables: { $task } número de aviso, { $category }, { $crew }, { $place }, ...

help = Hola, soy el asistente del Ayuntamiento de { $town }. Cuéntame qué problema has visto y dónde (por ejemplo: «la farola de la calle Mayor 5 está apagada») y lo haré llegar al equipo que lo arregla. Te avisaré de cada paso.
empty-message = No he recibido ningún texto. Cuéntame qué problema has visto y dónde.
too-long = Tu mensaje es demasiado largo ({ $length } caracteres; el máximo es { $max }). ¿Puedes resumirlo en unas líneas?
ack-created = Gracias. Tu aviso #{ $task } ({ $category }) ya está en manos de { $crew }. Te avisaré de cada paso.
ack-duplicate = Gracias. Ya teníamos este aviso: #{ $original } ({ $category }, { $status }). He unido el tuyo (#{ $task }) y te avisaré cuando se resuelva.
ack-triage = Gracias. El ayuntamiento revisará tu aviso #{ $task } y lo enviará al equipo adecuado.
ask-category = No tengo claro de qué tipo es el problema. Responde con un número:
ask-category-choice = { $n }. { $category }
ask-category-other = 0. Otro (lo revisará el ayuntamiento)
ask-category-bad-choice = Responde con un número del 0 al { $max }, o escribe «cancelar».
ask-location = ¿Dónde está exactamente? Escribe la calle y el número, o comparte tu ubicación.
ask-problem-for-location = Gracias por la ubicación. ¿Qué problema hay ahí?
ask-problem-for-attachment = Gracias por la foto. ¿Qué problema muestra y dónde está?
location-added = He añadido la ubicación a tu aviso #{ $task }.
attachment-added = He añadido la foto a tu aviso #{ $task }.
dialogue-cancelled = De acuerdo, lo dejamos. Escríbeme cuando quieras avisar de algo.
task-card =
    🆕 #{ $task } · { $category } · { $place }
    «{ $description }»
task-card-private =
    🔒 #{ $task } · { $category } (privado) · { $place }
    «{ $description }»
task-card-actions = Responde «tomo #{ $task }», «hecho #{ $task }» o «nota #{ $task } texto».
task-card-actions-buttons = Usa los botones, o responde a esta tarjeta con una nota para el vecino.
task-card-actions-reactions = Reacciona 👀 para tomarlo y ✅ cuando esté hecho; responde en el hilo para dejar una nota al vecino.
task-card-status = Estado: { $status }
triage-card =
    ❓ #{ $task } sin clasificar · { $place }
    «{ $description }»
    Asigna con «asignar #{ $task } CATEGORÍA» ({ $categories }) o «cerrar #{ $task } spam».
public-post =
    📢 #{ $task } · { $category } · { $place }
    «{ $description }»
    Estado: { $status } · 👍 { $metoo }{ $credit }
    { $how }
status-open = abierto
status-acknowledged = recibido
status-in_progress = en curso
status-resolved = resuelto
status-closed = cerrado
close-unable = no se puede resolver
close-duplicate = duplicado
close-spam = no procede
close-other = cerrado por el equipo
notify-acknowledged = 👀 { $crew } ha visto el aviso #{ $task } ({ $category }).
notify-in-progress = 🔧 { $crew } ya está trabajando en el aviso #{ $task } ({ $category }).
notify-resolved = ✅ Aviso #{ $task } ({ $category }) resuelto en { $elapsed }. ¡Gracias por avisar!
notify-closed = El aviso #{ $task } ({ $category }) se ha cerrado: { $reason }.
notify-reopened = El aviso #{ $task } ({ $category }) se ha reabierto.
notify-note = 📝 { $crew } sobre el aviso #{ $task }: «{ $note }»
notify-assigned = Tu aviso #{ $task } es de { $category }; lo lleva { $crew }.
notify-comment = 💬 Un vecino responde sobre tu aviso #{ $task }: «{ $text }»
notify-me-too-thanks = Gracias. He sumado tu apoyo al aviso #{ $task } y te avisaré cuando se resuelva.
crew-confirm = #{ $task } → { $status } ({ $who })
crew-note-saved = Nota guardada en #{ $task } y enviada al vecino.
crew-duplicate-linked = 📎 #{ $task } es el mismo problema que #{ $original } ({ $count } avisos).
refuse-not-crew = Lo siento, solo el equipo que lleva un aviso puede cambiar su estado. Si quieres avisar de un problema, cuéntamelo.
refuse-other-crew = El aviso #{ $task } es de { $crew }; solo ese equipo o el ayuntamiento pueden cambiarlo.
refuse-not-dispatcher = Solo el ayuntamiento puede hacer eso.
unknown-task = No existe el aviso #{ $task }.
unknown-command = No conozco esa orden. Órdenes: «tomo #N», «hecho #N», «nota #N texto», «estado #N», «ayuda».
unknown-category = No conozco esa categoría. Categorías: { $categories }.
bad-transition = El aviso #{ $task } ya está { $status }; no se puede hacer eso ahora.
task-status = Aviso #{ $task } ({ $category }, { $place }): { $status }.
language-set = De acuerdo, te escribiré en español.
elapsed-minutes = { $minutes } min
elapsed-hours = { $hours } h{ $minutes ->
        [0] {""}
       *[other] {" "}{ $minutes } min
    }
elapsed-days = { $days } d{ $hours ->
        [0] {""}
       *[other] {" "}{ $hours } h
    }
elapsed-less-than-minute = menos de 1 min
button-claim = 🔧 Tomo
button-done = ✅ Hecho
button-me-too = 👍 Yo también
note-line = Nota: «{ $note }»
ask-which-task = Este mensaje agrupa varios avisos: di a cuál te refieres con su número, por ejemplo «#12».
button-note = 📝 Nota
note-how = Para dejar una nota al vecino en #{ $task }, responde a la tarjeta con el texto, o escribe «nota #{ $task } texto».

public-how-reply = ¿Sabes algo? Responde a este mensaje. ¿Te afecta? Responde «yo también».
public-how-typed = ¿Sabes algo? Escribe «#{ $task } y tu respuesta». ¿Te afecta? Escribe «yo también #{ $task }».
public-withdrawn = #{ $task } — aviso retirado del tablón público por el ayuntamiento.


notify-now-private = El aviso #{ $task } lo lleva ahora el ayuntamiento de forma privada. Gracias por tu apoyo; no recibirás más mensajes sobre él.
confirm-public = El aviso #{ $task } es de una categoría privada ({ $category }). Para publicarlo de todos modos escribe «publico #{ $task } sí».
private-text = (aviso privado)
dialogue-dropped = He dejado a un lado tu aviso anterior; cuando quieras, escríbemelo otra vez con el lugar.
ask-location-again = Y sobre tu aviso anterior ({ $category }): ¿dónde está exactamente? Escribe la calle y el número, o comparte tu ubicación.
crew-possibly-related = 🔗 #{ $task } puede estar relacionado con #{ $other } (mismo lugar). Cada vecino sigue solo su propio aviso.
erase-confirm = ¿Quieres que borremos tus datos? Se borrarán tu identidad y lo que escribiste en tus avisos; los avisos quedan, anónimos, para las estadísticas del pueblo. Responde «sí» para borrarlos, o cualquier otra cosa para dejarlo.
erase-cancelled = De acuerdo, no he borrado nada.
erase-done = Hecho: hemos borrado tus datos. Si vuelves a escribirnos, empezaremos de cero.
data-export-header = Estos son todos los datos que el Ayuntamiento de { $town } guarda sobre ti ({ $identity }):
data-export-language = Idioma: { $language }
data-export-task = Aviso #{ $task } ({ $date }, { $category }, { $status }): «{ $description }» · { $place }
data-export-following = Sigues los avisos: { $tasks }
data-export-event = { $date } · #{ $task } · { $what } { $text }
data-export-dialogue = Pregunta pendiente sobre: «{ $text }»
data-export-nothing = No guardamos ningún aviso ni mensaje tuyo.
data-export-footer = Para borrar tus datos escribe «borrar mis datos».

thanks-reply = ¡De nada! Aquí estoy para lo que necesites.
ok-reply = 👍
status-none-open = No tienes ningún aviso abierto ahora mismo. Si ves un problema, cuéntamelo.
not-a-report = Solo puedo recoger avisos de problemas en la calle (una farola, un bache, basura…). Para otras preguntas, llama o acércate al Ayuntamiento de { $town }.
status-anything-else = Para cualquier otra cosa, llama o acércate al Ayuntamiento de { $town }.
ask-location-vague = Para que el equipo lo encuentre necesito la calle y el número (por ejemplo «calle San Marcos 3»), o que compartas tu ubicación.
location-updated = Corregido: tu aviso #{ $task } está en { $place }.
crew-location-updated = 📍 el vecino corrige el lugar: { $place }
detail-added = Gracias, he añadido esto a tu aviso #{ $task } para el equipo.
crew-detail = ➕ el vecino añade: «{ $text }»
please-write = No puedo escuchar audios ni ver pegatinas. ¿Me lo escribes, por favor? Por ejemplo: «la farola de la calle Real 3 está apagada».

ask-location-offer = ¿Es en { $place }, como la otra vez? Responde 1 (sí) o 2 (no, es en otro sitio).

too-many-reports = Has enviado muchos avisos en la última hora (el máximo es { $max }). Espera un poco, por favor; los que ya enviaste siguen en marcha.
flood-warning = ⚠ Un vecino ha pasado de { $max } avisos en una hora ({ $tasks }); los siguientes no se registran durante una hora.

refuse-reaction = Solo el equipo del aviso #{ $task } o el ayuntamiento pueden marcarlo; esa reacción no cambia nada.

# lost-and-found
lostfound-match = 🐾 Posible coincidencia: el aviso #{ $other } ({ $kind }) se parece a tu aviso #{ $task }: «{ $description }». El ayuntamiento os pondrá en contacto.
lostfound-kind-lost = animal perdido
lostfound-kind-found = animal encontrado
lostfound-crew = 🐾 #{ $task } y #{ $other } parecen el mismo animal.
unreadable-message = No he podido leer tu último mensaje: me llegó cifrado con una clave que no tengo. ¿Puedes enviarlo otra vez?
unverified-staff = Este mensaje va a nombre de una persona del equipo municipal, pero no se ha podido comprobar que venga de ella, así que no se ha hecho nada. Si es tuyo, envíalo otra vez desde tu cuenta de siempre; si no, puedes ignorar este aviso.

# The public web board
web-event-created = Aviso recibido
web-event-assigned = Asignado a { $value }
web-event-status = Estado: { $value }
web-event-note = Nota del equipo
web-event-comment = Un vecino responde
web-event-metoo = A un vecino también le afecta
web-board-title = Avisos de la ciudad
web-filter-status = Estado
web-filter-all = Todos
web-filter-open = Abiertos
web-filter-closed = Resueltos
web-filter-category = Tipo
web-filter-apply = Ver
web-col-category = Tipo
web-col-place = Lugar
web-col-status = Estado
web-col-age = Hace
web-col-ack = Recibido en
web-col-resolved = Resuelto en
web-empty = No hay avisos que mostrar.
web-prev = Anteriores
web-next = Siguientes
web-not-found = Ese aviso no existe o no es público.
web-bad-filter = Ese tipo de aviso no existe.
web-metoo = Vecinos afectados
web-history = Historia
web-stats-title = Cifras
web-stats-period = Últimos 30 días
web-stats-reports = avisos
web-stats-per-day = Avisos por día
web-stats-per-category = Avisos por tipo
web-stats-private = Avisos privados (solo se cuentan)
web-stats-triage = Sin clasificar
web-stats-per-crew = Rapidez de cada equipo
web-stats-crew = Equipo
web-stats-satisfaction = Qué dicen los vecinos de los arreglos
web-stats-fixed = Marcados arreglados
web-stats-rating = Puntuación, 1 a 5 (respuestas)
web-stats-reopened = Reabiertos por el vecino
web-stats-backlog = Abiertos al final del día
web-stats-day = Día
web-chat-title = Avisar de un problema
web-chat-hello = ¡Hola! Cuéntenos qué pasa y dónde (calle y número) y recibirá un número de aviso. Puede seguirlo aquí y en el tablón público.
web-chat-placeholder = Escriba su mensaje
web-chat-send = Enviar
web-chat-where = 📍 Enviar mi ubicación
web-chat-mine = Sus avisos
web-chat-privacy = Su nombre y sus datos de contacto nunca se muestran en público. Este navegador le recuerda con una cookie, nada más.
web-chat-empty = Escriba primero un mensaje.
web-chat-too-long = Ese mensaje es demasiado largo para enviarlo desde aquí.
web-chat-bad-location = No se ha podido leer esa ubicación.
web-chat-busy = El servicio del ayuntamiento se está iniciando o está ocupado; inténtelo de nuevo en un momento. No se ha perdido nada.
open311-private-notice = Recibido. Este tipo de aviso se trata de forma confidencial: no tiene número público ni se muestra en ningún lugar público.
web-filter-district = Barrio
web-stats-per-day-average = avisos al día (últimos 30 días)
web-stats-coordinated = tareas coordinadas desde el principio
web-chat-too-many-new = Se han iniciado demasiadas conversaciones nuevas desde su red en la última hora. Inténtelo más tarde o escriba al ayuntamiento por su mensajería.

# Lo que dice el vecino de un arreglo (issue 12)
confirm-ask = ¿Está arreglado? Responde 1 (sí) o 2 (no), sobre tu aviso #{ $task }.
button-fixed = 1 ✅ Sí, arreglado
button-not-fixed = 2 ❌ No
confirm-thanks-rate = Gracias por decírnoslo. Si quieres, puntúa el trabajo en el #{ $task } del 1 al 5 (5 = muy bien).
rate-thanks = ¡Gracias! Tu puntuación ayuda a los equipos.
crew-not-fixed = ↩️ El #{ $task } no está arreglado, dice el vecino: «{ $text }»
crew-not-fixed-plain = ↩️ El #{ $task } no está arreglado, dice el vecino.
confirm-reopened = He reabierto tu aviso #{ $task } y se lo he dicho a { $crew }. Perdona que aún no esté arreglado.
confirm-closed-silent = No tuve respuesta sobre tu aviso #{ $task }, así que lo he cerrado como arreglado. Si el problema vuelve, dímelo.
crew-thanks = 💐 El vecino os da las gracias por el #{ $task } ({ $category }).
public-credit = { $who ->
    [none] ✅ Arreglado por { $crew }
   *[other] ✅ Arreglado por { $crew } ({ $who })
}

# Plugin: plazos (deadlines)
deadline-remind-ack = ⏰ El #{ $task } ({ $category }) lleva { $waited } h esperando y nadie lo ha tomado aún; el objetivo del pueblo es { $hours } h.
deadline-remind-resolve = ⏰ El #{ $task } ({ $category }) sigue sin arreglar tras { $waited } h; el objetivo del pueblo es { $hours } h.
deadline-escalate-ack = 🚨 El #{ $task } ({ $category }) lleva { $waited } h sin que nadie lo tome (objetivo: { $hours } h). Ya se le recordó al equipo.
deadline-escalate-resolve = 🚨 El #{ $task } ({ $category }) sigue sin arreglar tras { $waited } h (objetivo: { $hours } h). Ya se le recordó al equipo.
deadline-late-ack = ⏳ Tu aviso #{ $task } ({ $category }) está tardando más de lo debido: el pueblo se propone que alguien se ocupe en { $hours } h. Se lo he recordado al equipo.
deadline-late-resolve = ⏳ Tu aviso #{ $task } ({ $category }) está tardando más de lo debido: el pueblo se propone arreglarlo en { $hours } h. Se lo he recordado al equipo.
deadline-escalated = El ayuntamiento sigue ya en persona tu aviso #{ $task } ({ $category }), porque va con retraso.

# Credit to crews
credit-on = Gracias, { $name }: el tablón público te nombrará cuando arregles algo. Escribe «crédito no» para dejarlo.
credit-off = Hecho: el tablón público no te nombrará, solo a tu equipo.
credit-how = Escribe tu nombre después de «crédito», por ejemplo «crédito Luis», o «crédito no».

# Districts
data-export-notices = Pediste los avisos de: { $districts }
refuse-other-district = El aviso #{ $task } es de { $district }: eso solo pueden hacerlo sus responsables o los del ayuntamiento.
district-none = ningún distrito

# Plugin: incidencias
incident-opened = ⚠️ La incidencia #{ $task } está publicada y en el tablón { $until ->
    [none] hasta nuevo aviso
   *[other] hasta las { $until }
}. Los avisos del mismo problema allí se le suman; escribid «hecho #{ $task }» cuando termine.
incident-known = ⚠️ Ya lo sabemos: «{ $notice }» (#{ $task }), { $until ->
    [none] hasta nuevo aviso
   *[other] previsto hasta las { $until }
}. Te he apuntado y te avisaré cuando termine.
incident-ended = ✅ Terminado: «{ $notice }» (#{ $task }). Gracias por la paciencia; si algo sigue mal, dímelo.
incident-which-category = ¿Qué tipo de problema es? Nómbralo en el aviso (categorías: { $categories }).

# Plugin: el resumen de la alcaldía
digest-header = 🗞 Ayer ({ $day }): { $reports ->
    [one] 1 aviso
   *[other] { $reports } avisos
}, { $resolved ->
    [one] 1 resuelto
   *[other] { $resolved } resueltos
}, { $closed ->
    [one] 1 cerrado
   *[other] { $closed } cerrados
}. Abiertos ahora: { $open }, { $late } con retraso.
digest-crew = · { $crew }: tomado en { $ack }, arreglado en { $resolve } (medianas)
digest-ratings = · Puntuación de los vecinos a los arreglos de ayer: { $mean } de 5 ({ $count })
digest-no-ratings = · Sin puntuaciones de los arreglos de ayer.

# Plugin: anuncios
notice-public = 📣 Del ayuntamiento: { $text }
notice-public-district = 📣 { $district }: { $text }
notice-posted = Publicado en la sala pública{ $count ->
    [0] .
    [one] , y enviado a 1 vecino que pidió los avisos.
   *[other] , y enviado a { $count } vecinos que pidieron los avisos.
}
notice-subscribed = Te enviaré los avisos del ayuntamiento. Escribe «no más avisos» para dejar de recibirlos.
notice-subscribed-district = Te enviaré los avisos de { $district } (y los de todo el pueblo). Escribe «no más avisos» para dejar de recibirlos.
notice-unsubscribed = { $count ->
    [0] No recibías avisos.
   *[other] Hecho: no más avisos.
}
